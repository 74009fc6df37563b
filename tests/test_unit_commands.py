"""Command declarations, word splitting, argument parsing, lookup and permissions."""

from __future__ import annotations

from typing import Any

import pytest

from core.commands import (
    Arg,
    Bot,
    Command,
    Option,
    Registry,
    Role,
    UsageError,
    allowed,
    command,
    parse_arguments,
    split_words,
)

LANGS = ("en", "de")


class Sample(Bot):
    name = "sample"

    def __init__(self) -> None:
        self.calls: list[Any] = []

    @command("ping", help="ping.help")
    async def ping(self, ctx: Any) -> None:
        self.calls.append(ctx)

    @command("lang", Arg("language", optional=True, choices=LANGS), help="lang.help")
    async def lang(self, ctx: Any, language: str | None) -> None: ...

    @command("lang room", Arg("language", choices=LANGS), role=Role.coordinator, help="lr.help")
    async def lang_room(self, ctx: Any, language: str) -> None: ...

    @command("note", Arg("text", rest=True), help="note.help")
    async def note(self, ctx: Any, text: str) -> None: ...

    @command("repeat", Arg("count", convert=int), Arg("word"), help="repeat.help")
    async def repeat(self, ctx: Any, count: int, word: str) -> None: ...

    @command(
        "dir find",
        Arg("query", optional=True, rest=True),
        options=(Option("lang", choices=LANGS), Option("limit", convert=int, placeholder="n")),
        tags=True,
        help="find.help",
    )
    async def find(self, ctx: Any, **kwargs: Any) -> None: ...


class Other(Bot):
    name = "other"

    @command("ping", help="other.help")
    async def ping(self, ctx: Any) -> None: ...


class Shouty(Bot):
    name = "shouty"

    @command("Dir Show", help="show.help")
    async def show(self, ctx: Any) -> None: ...


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.add_bot(Sample())
    return registry


def parse(registry: Registry, message: str) -> tuple[Command, dict[str, Any]]:
    """What the runtime does with a message once the prefix is removed."""
    text, tokens = split_words(message)
    found = registry.find([token.value for token in tokens])
    assert found is not None, message
    cmd, used = found
    return cmd, parse_arguments(cmd, text, tokens[used:])


def words(message: str) -> list[str]:
    return [token.value for token in split_words(message)[1]]


# --- split_words -----------------------------------------------------------------------------


def test_double_quotes_group_words_and_keep_apostrophes() -> None:
    assert words('say "two words"  don\'t stop') == ["say", "two words", "don't", "stop"]
    assert words('find city:"Bad Homburg" now') == ["find", "city:Bad Homburg", "now"]


def test_typographic_quotes_are_normalised() -> None:
    text, tokens = split_words("a „zwei Wörter“ “two words” «trois mots»")
    assert text == 'a "zwei Wörter" "two words" "trois mots"'
    assert [t.value for t in tokens] == ["a", "zwei Wörter", "two words", "trois mots"]
    assert [text[t.start] for t in tokens] == ["a", '"', '"', '"']


def test_single_quotes_group_words() -> None:
    assert words("say 'two words' x") == ["say", "two words", "x"]


@pytest.mark.parametrize("message", ['say "unclosed words', '"', 'a "b" "c'])
def test_unclosed_double_quote_is_a_usage_error(message: str) -> None:
    with pytest.raises(UsageError) as caught:
        split_words(message)
    assert caught.value.key == "usage.unclosed_quote"


def test_unclosed_quote_after_key_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        split_words('find city:"Bad Homburg')


# --- parse_arguments -------------------------------------------------------------------------


def test_positional_optional_and_converted_arguments(registry: Registry) -> None:
    assert parse(registry, "lang")[1] == {"language": None}
    assert parse(registry, "repeat 3 hi")[1] == {"count": 3, "word": "hi"}


def test_rest_keeps_raw_text_with_line_breaks(registry: Registry) -> None:
    cmd, values = parse(registry, 'note  first "line"\n  second   line  ')
    assert cmd.name == "note"
    assert values == {"text": 'first "line"\n  second   line'}


def test_choices_are_case_insensitive(registry: Registry) -> None:
    assert parse(registry, "lang DE")[1] == {"language": "de"}
    with pytest.raises(UsageError) as caught:
        parse(registry, "lang fr")
    assert caught.value.key == "usage.choice"
    assert caught.value.values == {"name": "language", "value": "fr", "choices": "en, de"}


@pytest.mark.parametrize(
    ("message", "key", "values"),
    [
        ("repeat many hi", "usage.bad_value", {"name": "count", "value": "many"}),
        ("repeat 3", "usage.missing", {"name": "word"}),
        ("lang room", "usage.missing", {"name": "language"}),
        ("repeat 3 hi there", "usage.too_many", {"extra": "there"}),
        ("ping pong", "usage.too_many", {"extra": "pong"}),
    ],
)
def test_usage_errors(registry: Registry, message: str, key: str, values: dict) -> None:
    with pytest.raises(UsageError) as caught:
        parse(registry, message)
    assert caught.value.key == key
    assert values.items() <= caught.value.values.items()


def test_urls_stay_positional_and_tags_are_collected(registry: Registry) -> None:
    cmd, values = parse(registry, "dir find https://example.org/a:b #Berlin #")
    assert cmd.name == "dir find"
    assert values == {
        "query": "https://example.org/a:b #",
        "lang": None,
        "limit": None,
        "tags": ["berlin"],
    }
    cmd, values = parse(registry, "dir find #Berlin cooking #Kochen")
    assert values["tags"] == ["berlin", "kochen"]
    assert values["query"] == "cooking"


def test_tags_are_plain_words_without_tags_true(registry: Registry) -> None:
    assert parse(registry, "note #Berlin rocks")[1] == {"text": "#Berlin rocks"}


def test_declared_options_are_parsed(registry: Registry) -> None:
    values = parse(registry, 'dir find lang:DE limit:5 "home cooking"')[1]
    assert values == {"query": "home cooking", "lang": "de", "limit": 5, "tags": []}


@pytest.mark.parametrize(
    ("option", "key"), [("lang:fr", "usage.choice"), ("limit:x", "usage.bad_value")]
)
def test_bad_option_values_are_usage_errors(registry: Registry, option: str, key: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(registry, f"dir find {option}")
    assert caught.value.key == key


# --- Registry, Bot, usage, permissions -------------------------------------------------------


async def test_bot_commands_are_bound_and_named() -> None:
    bot = Sample()
    commands = {cmd.name: cmd for cmd in bot.commands()}
    assert set(commands) == {"ping", "lang", "lang room", "note", "repeat", "dir find"}
    assert {cmd.bot for cmd in commands.values()} == {"sample"}
    assert commands["lang room"].role is Role.coordinator
    await commands["ping"].handler("ctx")
    assert bot.calls == ["ctx"]


def test_find_picks_longest_path_case_insensitively(registry: Registry) -> None:
    cmd, used = registry.find(["LANG", "Room", "de"])
    assert (cmd.name, used) == ("lang room", 2)
    cmd, used = registry.find(["Lang", "de"])
    assert (cmd.name, used) == ("lang", 1)
    assert registry.find(["dir"]) is None
    assert registry.find(["nope"]) is None


def test_closest_suggests_a_declared_command(registry: Registry) -> None:
    assert registry.closest(["pnig"]) == "ping"
    assert registry.closest(["lang", "rom"]) == "lang room"
    assert registry.closest(["xyzzy"]) is None


def test_a_command_declared_twice_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="'ping'"):
        registry.add_bot(Other())


class Homeless(Bot):
    """Declares a command that acts on a network, but finds no networks."""

    name = "homeless"

    @command("where", options=[Option("network")], network=True, help="where.help")
    async def where(self, ctx: Any, net: Any) -> None: ...


def test_a_network_command_of_a_bot_that_finds_none_is_refused() -> None:
    with pytest.raises(ValueError, match="'where'"):
        Registry().add_bot(Homeless())


def test_mixed_case_declarations_are_found() -> None:
    registry = Registry()
    registry.add_bot(Shouty())
    assert registry.find(["dir", "show"]) is not None


def test_usage_lines() -> None:
    commands = {cmd.name: cmd for cmd in Sample().commands()}
    assert commands["lang"].usage("!") == "!lang [en|de]"
    assert commands["lang room"].usage("!") == "!lang room <en|de>"
    assert commands["note"].usage("?") == "?note <text…>"
    assert commands["dir find"].usage("!") == "!dir find [query…] [lang:en|de] [limit:n] [#tag…]"
    where = Homeless().commands()[0]  # the network it acts on adds nothing to its usage
    assert where.usage("!") == "!where [network:value]"


@pytest.mark.parametrize(
    ("role", "level", "admin", "expected"),
    [
        (Role.anyone, 0, False, True),
        (Role.coordinator, 49, False, False),
        (Role.coordinator, 50, False, True),
        (Role.meta_mentor, 50, False, False),
        (Role.meta_mentor, 100, False, True),
        (Role.admin, 100, False, False),
        (Role.admin, 10_000, False, False),
        (Role.admin, 0, True, True),
        (Role.meta_mentor, 0, True, True),
    ],
)
def test_allowed(role: Role, level: int, admin: bool, expected: bool) -> None:
    assert allowed(role, level, admin) is expected
