"""The shipped string catalogue: complete, consistent, and covering what the bots use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from bots import BOTS
from core.app import App
from core.commands import Command, Role
from core.config import LANGUAGES, parse_config
from core.i18n import Catalog, Plural, catalog_problems, fields
from core.languages import LOCALE_DIR, interface_languages
from core.text import Text

ROOT = Path(__file__).resolve().parent.parent
CATALOG = Catalog.load()
USAGE_KEYS = ["usage.missing", "usage.too_many", "usage.choice", "usage.bad_value"]
TRANSLATED = [language for language in LANGUAGES if language != "en"]


def all_commands() -> list[Command]:
    """Every command of every shipped bot, from an instance that is built but not started."""
    matrix = {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:x", "password": "-"}
    config = parse_config(
        {"matrix": {**matrix, "encryption": False}, "storage": {"database": ":memory:"}}
    )
    return list(App(config, BOTS).registry.commands.values())


def english_texts(key: str) -> list[str]:
    entry = CATALOG.entries[key]
    return [entry.one, entry.other] if isinstance(entry, Plural) else [entry]


def sample_values(key: str) -> dict[str, str]:
    names = set().union(*(fields(text) for text in english_texts(key)))
    return {name: "<v>" for name in names}


def test_the_interface_languages_are_the_catalogs_listed() -> None:
    assert LANGUAGES[0] == "en" and {"de"} <= set(LANGUAGES)
    present = sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))
    assert sorted(TRANSLATED) == present


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalog_is_whole(language: str) -> None:
    assert len(CATALOG.entries) > 20
    assert catalog_problems(CATALOG.entries, language) == []


def test_no_strings_wait_in_the_old_side_by_side_layout() -> None:
    """Texts merged as `key: {en: …, de: …}` work, but belong in the catalogs."""
    assert sorted(CATALOG.side_by_side) == [], "run: .venv/bin/python tools/import_strings.py FILE"


def test_an_old_layout_entry_still_answers_until_it_is_imported(tmp_path: Path) -> None:
    (tmp_path / "new.yaml").write_text(
        'invite.sent:\n  en: "I invited {name}."\n  fr: "J\'ai invité {name}."\n'
        'invite.count:\n  en: {one: "{count} invitation", other: "{count} invitations"}\n',
        encoding="utf-8",
    )
    catalog = Catalog.load(tmp_path)
    assert catalog.text("fr", "invite.sent", name="Léa").body == "J'ai invité Léa."
    assert catalog.text("nl", "invite.sent", name="Joost").body == "I invited Joost."
    assert catalog.text("de", "invite.count", count=2).body == "2 invitations"
    assert sorted(catalog.side_by_side) == ["invite.count", "invite.sent"]


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
def test_every_message_renders_in_every_language(key: str) -> None:
    counts = [0, 1, 2, 5, 1_000_000] if isinstance(CATALOG.entries[key], Plural) else [None]
    for language in LANGUAGES:
        for count in counts:
            values = sample_values(key)
            if count is not None:
                values[CATALOG.entries[key].by] = count
            text = CATALOG.text(language, key, **values)
            assert "{" not in text.body and "}" not in text.body.replace("`}`", ""), (
                language,
                text,
            )
            assert "<v>" not in text.html


def test_a_plural_takes_the_form_of_its_number() -> None:
    catalog = Catalog()
    catalog.add({"found": {"one": "{count} resource found", "other": "{count} resources found"}})
    assert catalog.text("en", "found", count=1).body == "1 resource found"
    assert catalog.text("en", "found", count=3).body == "3 resources found"


def test_template_falls_back_to_english() -> None:
    catalog = Catalog()
    catalog.add({"only.en": "Hello {name}"})
    assert catalog_problems(catalog.entries, "de") == [
        "only.en (de): missing or made for another English text"
    ]
    assert catalog.text("de", "only.en", name="Ana") == Text("Hello Ana", "Hello Ana")
    with pytest.raises(KeyError, match=r"no\.such"):
        catalog.template("en", "no.such")


def _broken_copy(tmp_path: Path, language: str, change) -> Path:
    """A copy of the shipped catalog of `language` with one message changed by `change`."""
    folder = tmp_path / language / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        po = read_po(file, locale=language)
    change(po)
    with (folder / "messages.po").open("wb") as file:
        write_po(file, po)
    return tmp_path


def _message(po, key: str):
    return next(message for message in po if message.context == key)


def test_a_missing_message_is_named(tmp_path: Path) -> None:
    locale = _broken_copy(
        tmp_path, "de", lambda po: po.delete("Mood", context="checkin.label.mood")
    )
    assert catalog_problems(CATALOG.entries, "de", locale) == [
        "checkin.label.mood (de): missing or made for another English text"
    ]


def test_a_changed_placeholder_is_named(tmp_path: Path) -> None:
    def rename(po) -> None:
        _message(po, "usage.missing").string = "<{nom}> fehlt."

    locale = _broken_copy(tmp_path, "de", rename)
    problems = catalog_problems(CATALOG.entries, "de", locale)
    assert len(problems) == 1 and problems[0].startswith("usage.missing (de): placeholders")


def test_a_missing_plural_form_is_named(tmp_path: Path) -> None:
    key = next(key for key, entry in CATALOG.entries.items() if isinstance(entry, Plural))

    def drop(po) -> None:
        message = _message(po, key)
        message.string = (message.string[0],)

    locale = _broken_copy(tmp_path, "de", drop)
    assert catalog_problems(CATALOG.entries, "de", locale) == [
        f"{key} (de): 1 plural forms, wants 2"
    ]


def test_a_key_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('x.y: "A"\n', encoding="utf-8")
    (tmp_path / "b.yaml").write_text('x.y: "B"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"b\.yaml: string 'x\.y' is defined twice"):
        Catalog.load(tmp_path)


def test_a_key_defined_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('x.y: "A"\nx.y: "B"\n', encoding="utf-8")
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
    for bot in App(config, BOTS).bots:
        for language in LANGUAGES:
            assert CATALOG.text(language, f"help.bot.{bot.name}").body
        names = {cmd.name for cmd in bot.commands()}
        assert set(bot.featured) <= names, bot.name


def test_a_new_language_is_one_line_and_one_catalog(tmp_path: Path) -> None:
    (tmp_path / "LINGUAS").write_text("# comment\nde\nxx  # a test language\n", encoding="utf-8")
    assert interface_languages(tmp_path) == ("en", "de", "xx")


def test_pybabel_extracts_every_key_with_its_english_text(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-o", str(pot), "."],
        cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    with pot.open("rb") as file:
        extracted = {message.context: message.id for message in read_po(file) if message.id}
    assert extracted == {
        key: (tuple(english_texts(key)) if len(english_texts(key)) == 2 else english_texts(key)[0])
        for key in CATALOG.entries
    }


def test_old_format_strings_are_imported_into_the_catalogs(tmp_path: Path) -> None:
    """tools/import_strings.py carries `key: {en:, de:}` over: English yaml plus de.po."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "bots" / "strings", root / "bots" / "strings")
    shutil.copytree(ROOT / "locale", root / "locale", ignore=shutil.ignore_patterns("*.mo"))
    shutil.copytree(ROOT / "core", root / "core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tools", root / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    new = root / "bots" / "strings" / "invitations.yaml"
    new.write_text(
        '# Invitations.\ninvite.sent:\n  en: "I invited {name}."\n'
        '  de: "Ich habe {name} eingeladen."\n'
        'invite.count:\n  en: {one: "{count} invitation", other: "{count} invitations"}\n'
        '  de: {one: "{count} Einladung", other: "{count} Einladungen"}\n',
        encoding="utf-8",
    )
    subprocess.run([sys.executable, "tools/import_strings.py", str(new)], cwd=root, check=True)
    assert new.read_text(encoding="utf-8").startswith('# Invitations.\ninvite.sent: "I invited')
    catalog = Catalog.load(root / "bots" / "strings", root / "locale")
    assert catalog.text("de", "invite.sent", name="Ana").body == "Ich habe Ana eingeladen."
    assert catalog.text("de", "invite.count", count=1).body == "1 Einladung"
    assert catalog.text("de", "invite.count", count=4).body == "4 Einladungen"
    assert re.search(
        r'msgctxt "invite.sent"', (root / "locale/de/LC_MESSAGES/messages.po").read_text()
    )
