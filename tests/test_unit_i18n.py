"""The shipped string catalogue: complete, consistent, and covering what the bots use."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from core.app import App
from core.commands import Command, Role
from core.config import LANGUAGES, parse_config
from core.i18n import Catalog
from core.text import Text

CATALOG = Catalog.load()
USAGE_KEYS = ["usage.missing", "usage.too_many", "usage.choice", "usage.bad_value"]


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def all_commands() -> list[Command]:
    """Every command of every shipped bot, from an instance that is built but not started."""
    matrix = {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:x", "password": "-"}
    config = parse_config(
        {"matrix": {**matrix, "encryption": False}, "storage": {"database": ":memory:"}}
    )
    return list(App(config).registry.commands.values())


def test_every_key_has_every_language() -> None:
    assert len(CATALOG.entries) > 20
    assert CATALOG.incomplete() == []


def test_every_command_help_exists_without_placeholders() -> None:
    commands = all_commands()
    assert {"help", "ping", "lang"} <= {cmd.name for cmd in commands}
    for cmd in commands:
        assert cmd.help in CATALOG.entries, cmd.name
        for language in LANGUAGES:
            assert fields(CATALOG.template(language, cmd.help)) == set(), cmd.help


def test_runtime_keys_exist() -> None:
    keys = [f"role.{role.name}" for role in Role] + USAGE_KEYS + ["usage.unclosed_quote"]
    assert [key for key in keys if key not in CATALOG.entries] == []


@pytest.mark.parametrize("key", sorted(CATALOG.entries))
def test_languages_use_the_same_placeholders_and_render(key: str) -> None:
    translations = CATALOG.entries[key]
    assert fields(translations["en"]) == fields(translations["de"])
    values = {name: "<v>" for name in fields(translations["en"])}
    for language in LANGUAGES:
        text = CATALOG.text(language, key, **values)
        assert "{" not in text.body
        assert "<v>" not in text.html


def test_template_falls_back_to_english() -> None:
    catalog = Catalog()
    catalog.add({"only.en": {"en": "Hello {name}"}})
    assert catalog.incomplete() == ["only.en (de)"]
    assert catalog.text("de", "only.en", name="Ana") == Text("Hello Ana", "Hello Ana")
    with pytest.raises(KeyError, match=r"no\.such"):
        catalog.template("en", "no.such")


def test_a_key_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('x.y:\n  en: "A"\n  de: "A"\n', encoding="utf-8")
    (tmp_path / "b.yaml").write_text('x.y:\n  en: "B"\n  de: "B"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"b\.yaml: string 'x\.y' is defined twice"):
        Catalog.load(tmp_path)


def test_a_key_defined_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        'x.y:\n  en: "A"\n  de: "A"\nx.y:\n  en: "B"\n  de: "B"\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match="defined twice"):
        Catalog.load(tmp_path)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_command_has_examples_that_run(language: str) -> None:
    """`!help <command>` shows examples: each is a command the registry finds and parses."""
    from core.commands import Registry, parse_arguments, split_words

    registry = Registry()
    for cmd in all_commands():
        registry.commands[cmd.path] = cmd
    for cmd in registry.commands.values():
        lines = CATALOG.text(language, cmd.examples, prefix="!").body.splitlines()
        assert lines, cmd.name
        for line in lines:
            text, tokens = split_words(line.removeprefix("!"))
            found = registry.find([token.value for token in tokens])
            assert found is not None and found[0] is cmd, (cmd.name, line)
            parse_arguments(cmd, text, tokens[found[1] :])  # raises on a wrong example


def test_every_bot_has_a_title_in_help() -> None:
    matrix = {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:x", "password": "-"}
    config = parse_config(
        {"matrix": {**matrix, "encryption": False}, "storage": {"database": ":memory:"}}
    )
    for bot in App(config).bots:
        for language in LANGUAGES:
            assert CATALOG.text(language, f"help.bot.{bot.name}").body
        names = {cmd.name for cmd in bot.commands()}
        assert set(bot.featured) <= names, bot.name
