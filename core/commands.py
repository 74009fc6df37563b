"""Declarative commands: a bot declares each command once and gets parsing, usage errors,
permission checks and help from that declaration.

    class General(Bot):
        name = "general"

        @command("lang", Arg("language", choices=LANGUAGES, optional=True), help="lang.help")
        async def lang(self, ctx: Context, language: str | None) -> None: ...

A message `!lang de` then calls `lang(ctx, language="de")`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from core.storage import Migrations

if TYPE_CHECKING:
    from core.account import Incoming
    from core.context import Context


class Role(IntEnum):
    """Who may run a command: the power level it needs (see `Scope` for where it is read), or
    a configured admin. `member`: a member of a network of this instance, at any level (the
    network the command's room belongs to, else any): judged by membership (`Bot.is_member`),
    not by a level, for a command that only makes sense inside a network."""

    anyone = 0
    member = 1
    coordinator = 50
    meta_mentor = 100
    admin = 1_000  # only users listed in bots.admins


class Scope(Enum):
    """What a command declared for a role acts on, and so where the asker's level is read.

    `network` (the default): it acts for a network or for the instance (its directory, its
    library, its networks' rooms and people). The level is the asker's rank in that network,
    read from the rooms the instance created for it (see `Bot.network_level`), never from the
    room the command happens to be sent in: in a room someone created (room version 12), such
    as their direct chat with the bot, they outrank everyone, and that says nothing about
    their place in a network. A bot may decide itself (`Bot.permits`).

    `room`: it changes only the room it is sent in (its default language, whether uploads in
    it are catalogued). Then the room's own power levels decide, creators included: a room
    someone created is theirs to set up.
    """

    network = "network"
    room = "room"


class UsageError(Exception):
    """The arguments do not fit the command; `key` names the translated explanation."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


Converter = Callable[[str], Any]


@dataclass(frozen=True)
class Arg:
    """A positional argument. `rest=True` takes all remaining text, unsplit."""

    name: str
    convert: Converter = str
    optional: bool = False
    rest: bool = False
    choices: Sequence[str] = ()

    def usage(self) -> str:
        inner = "|".join(self.choices) if self.choices else self.name + ("…" if self.rest else "")
        return f"[{inner}]" if self.optional else f"<{inner}>"


@dataclass(frozen=True)
class Option:
    """A `key:value` filter."""

    name: str
    convert: Converter = str
    choices: Sequence[str] = ()
    placeholder: str = "value"

    def usage(self) -> str:
        return f"[{self.name}:{'|'.join(self.choices) or self.placeholder}]"


Handler = Callable[..., Awaitable[None]]


@dataclass
class Command:
    """One command as declared by a bot."""

    path: tuple[str, ...]
    handler: Handler
    args: tuple[Arg, ...] = ()
    options: tuple[Option, ...] = ()
    tags: bool = False
    role: Role = Role.anyone
    help: str = ""
    bot: str = ""
    scope: Scope = Scope.network
    network: bool = False  # the handler gets the network it acts on (`Bot.network_for`)

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def examples(self) -> str:
        """The catalog key of this command's examples (one per line), next to its help."""
        return self.help.removesuffix(".help") + ".examples"

    def usage(self, prefix: str) -> str:
        parts = [prefix + self.name]
        parts += [arg.usage() for arg in self.args]
        parts += [option.usage() for option in self.options]
        if self.tags:
            parts.append("[#tag…]")
        return " ".join(parts)


def command(
    name: str,
    *args: Arg,
    options: Sequence[Option] = (),
    tags: bool = False,
    role: Role = Role.anyone,
    scope: Scope = Scope.network,
    network: bool = False,
    help: str,
) -> Callable[[Handler], Handler]:
    """Declare a bot method as the command `name` (words separated by spaces); a `role` above
    anyone is judged where `scope` says; `network=True`: a command that acts on one network
    gets it as `net`, found once by its bot before the handler runs (`Bot.network_for`: the
    one its `network:` option names, else the one whose room this is, else the asker's only
    one); when there is none the bot has said why in one line and the handler is not
    called."""

    def mark(function: Handler) -> Handler:
        function.__mentornet_command__ = Command(  # type: ignore[attr-defined]
            path=tuple(name.lower().split()),
            handler=function,
            args=args,
            options=tuple(options),
            tags=tags,
            role=role,
            help=help,
            scope=scope,
            network=network,
        )
        return function

    return mark


class Bot:
    """Base class of a bot: a named set of commands, plus hooks into the runtime.

    A bot may also declare `migrations` (its numbered schema steps), act on events that are
    not commands (`wants` + `on_event`: reactions, poll answers, uploaded files; they reach it
    once each, in room order, across restarts), and serve web pages (`routes`).
    """

    name: str = ""
    # The commands `!help` shows for this bot in its short overview (the most used first);
    # `!help <bot>` lists them all. The bot's title in the overview is the text `help.bot.<name>`.
    featured: tuple[str, ...] = ()
    migrations: Migrations | None = None
    # State event types this bot reads from the timeline and fetches itself when it joins a
    # room; they are left out of full-state syncs, so a restart does not download them again.
    bulky_state_types: tuple[str, ...] = ()
    # Whether `wants` also sees events our own accounts sent (a mirror of room state does;
    # anything that answers must not, or it would answer itself).
    sees_own_events: bool = False

    def commands(self) -> list[Command]:
        found = []
        for attribute in dir(type(self)):
            declared = getattr(getattr(type(self), attribute), "__mentornet_command__", None)
            if declared is not None:
                bound = getattr(self, attribute)
                found.append(Command(**{**declared.__dict__, "handler": bound, "bot": self.name}))
        return found

    async def start(self) -> None:
        """Called once the runtime is ready (migrations applied, accounts logged in)."""

    async def stop(self) -> None:
        """Called on shutdown."""

    async def room_upgraded(self, old_room: str, new_room: str) -> None:
        """Called when a room the bot is in was upgraded and the bot joined its successor."""

    def wants(self, incoming: Incoming) -> bool:
        """Whether this bot acts on a non-command event."""
        return False

    async def on_event(self, ctx: Context) -> None:
        """Handle an event that `wants` accepted."""

    def routes(self) -> list[web.RouteDef]:
        """Web routes this bot serves on the shared listener."""
        return []

    def personal_data(self, user_id: str) -> dict[str, Any]:
        """What this bot stores about the person, JSON-ready, for `!me`."""
        return {}

    async def forget_person(self, user_id: str) -> None:
        """Erase everything this bot stores about the person (`!me forget`)."""

    async def permits(
        self, ctx: Context, cmd: Command, arguments: dict[str, Any] | None
    ) -> bool | None:
        """Whether the asker may run `cmd` (one of this bot's, `role` above anyone), for a bot
        that knows better what its commands act on (a network named by the room or a
        `network:` option; the instance's directory). `arguments` are the parsed arguments;
        None when `!help` only asks what to list: then decide quietly. A refused command is
        explained by the bot itself. None (the default): the runtime decides by the command's
        `scope` (see `Scope`), never by a room the asker made.
        """
        return None

    async def is_member(self, user_id: str, room_id: str | None) -> bool:
        """Whether the person is a member of the network `room_id` belongs to, if it is one of
        this bot's; otherwise (or with None) of any network this bot keeps. False (the
        default) for a bot that keeps no networks."""
        return False

    async def network_level(self, user_id: str, room_id: str | None) -> int:
        """The person's power level in the networks this bot keeps: in the network `room_id`
        belongs to, if it is one; otherwise (or with None) their highest level in any of them.
        Read only from rooms the instance created for its networks. 0 (the default) for a bot
        that keeps no networks."""
        return 0

    async def network_for(self, ctx: Context, cmd: Command, name: str | None) -> object | None:
        """The network `cmd` acts on (it declares `network=True`): the one
        called `name` (its `network:` option) if given. None after explaining in one line why
        there is none. A bot that declares such commands keeps networks and says how."""
        raise NotImplementedError(f"{self.name} declares network commands but finds none")

    def network_roles(self, user_id: str) -> set[str]:
        """The person's roles (as the bot names them) in the networks this bot keeps and they
        have not left; none (the default) for a bot that keeps no networks."""
        return set()

    def language_given(self, user_id: str) -> str | None:
        """The language given for the person outside the bot's chat (at onboarding), if this
        bot keeps one; see `App.language` for where it ranks."""
        return None

    def time_zone(self, user_id: str) -> str | None:
        """The person's time zone (an IANA name), if this bot keeps one."""
        return None

    def name_given(self, user_id: str) -> str | None:
        """The person's name as given for them outside Matrix (at onboarding), if this bot
        keeps one; see `core.people` for how a person is named."""
        return None

    async def tick(self, now: datetime) -> None:
        """Called every `bots.tick_seconds`: do the work that has fallen due by `now` (keep the
        schedule in the database, so work missed while the bot was down is done once here)."""


# --- parsing -------------------------------------------------------------------------------

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"'})
_TOKEN = re.compile(r"""(?:[a-z_]+:)?"[^"]*"|'[^']*'|\S+""")
_KEYED_QUOTE = re.compile(r'^(?:[a-z_]+:)?"')
_OPTION = re.compile(r"^(?P<key>[a-z_]+):(?P<value>.+)$", re.DOTALL)


@dataclass
class Token:
    value: str
    start: int


def split_words(text: str) -> tuple[str, list[Token]]:
    """Split like a shell: "double" and 'single' quotes group words, also in key:"a b".

    Returns the text with typographic quotes made plain, and its tokens with their offsets.
    """
    text = text.translate(_QUOTES)
    tokens = []
    for match in _TOKEN.finditer(text):
        raw = match.group(0)
        opening = _KEYED_QUOTE.match(raw)
        if opening and (len(raw) == opening.end() or not raw.endswith('"')):
            raise UsageError("usage.unclosed_quote")
        tokens.append(Token(_unquote(raw), match.start()))
    return text, tokens


def _unquote(raw: str) -> str:
    key, quoted = ("", raw)
    if re.match(r'^[a-z_]+:"', raw):
        key, quoted = raw.split(":", 1)
    if len(quoted) >= 2 and quoted[0] == quoted[-1] and quoted[0] in "\"'":
        quoted = quoted[1:-1]
    return f"{key}:{quoted}" if key else quoted


def parse_arguments(cmd: Command, text: str, tokens: list[Token]) -> dict[str, Any]:
    """Turn the words after the command name into keyword arguments for its handler."""
    options = {option.name: option for option in cmd.options}
    values: dict[str, Any] = {option.name: None for option in cmd.options}
    if cmd.tags:
        values["tags"] = []
    positional: list[Token] = []
    for token in tokens:
        match = _OPTION.match(token.value)
        if match and match["key"] in options:
            option = options[match["key"]]
            values[option.name] = _convert(option, match["value"])
        elif cmd.tags and token.value.startswith("#") and len(token.value) > 1:
            values["tags"].append(token.value[1:].lower())
        else:
            positional.append(token)
    _bind_positional(cmd, text, positional, values)
    return values


def _bind_positional(cmd: Command, text: str, tokens: list[Token], values: dict[str, Any]) -> None:
    for index, arg in enumerate(cmd.args):
        if index >= len(tokens):
            if not arg.optional:
                raise UsageError("usage.missing", name=arg.name)
            values[arg.name] = None
        elif arg.rest:
            rest = tokens[index:]
            if cmd.options or cmd.tags or len(rest) == 1:
                raw = " ".join(token.value for token in rest)
            else:  # keep the text as typed, line breaks included
                raw = text[rest[0].start :].strip()
            values[arg.name] = _convert(arg, raw)
            return
        else:
            values[arg.name] = _convert(arg, tokens[index].value)
    if len(tokens) > len(cmd.args):
        raise UsageError("usage.too_many", extra=tokens[len(cmd.args)].value)


def _convert(spec: Arg | Option, raw: str) -> Any:
    if spec.choices and raw.lower() not in spec.choices:
        choices = ", ".join(spec.choices)
        raise UsageError("usage.choice", name=spec.name, value=raw, choices=choices)
    try:
        return spec.convert(raw.lower() if spec.choices else raw)
    except (ValueError, TypeError) as error:
        raise UsageError("usage.bad_value", name=spec.name, value=raw, reason=str(error)) from None


# --- the registry ------------------------------------------------------------------------


class Registry:
    """Every command of every bot of the process."""

    def __init__(self) -> None:
        self.commands: dict[tuple[str, ...], Command] = {}

    def add_bot(self, bot: Bot) -> None:
        for cmd in bot.commands():
            if cmd.network and type(bot).network_for is Bot.network_for:
                raise ValueError(f"command {cmd.name!r} acts on a network its bot cannot find")
            if cmd.path in self.commands:
                raise ValueError(f"command {cmd.name!r} is declared twice")
            self.commands[cmd.path] = cmd

    def find(self, words: Sequence[str]) -> tuple[Command, int] | None:
        """The longest declared command that `words` start with, and how many words it used."""
        lowered = tuple(word.lower() for word in words)
        for length in range(min(len(lowered), 3), 0, -1):
            cmd = self.commands.get(lowered[:length])
            if cmd is not None:
                return cmd, length
        return None

    def group(self, word: str) -> list[Command]:
        """The commands that start with `word` (e.g. every `dir …` command)."""
        return [cmd for path, cmd in self.commands.items() if path[0] == word.lower()]

    def closest(self, words: Sequence[str]) -> str | None:
        """The declared command name nearest to what was typed."""
        names = [cmd.name for cmd in self.commands.values()]
        for length in (2, 1):
            typed = " ".join(words[:length]).lower()
            match = difflib.get_close_matches(typed, names, n=1, cutoff=0.6)
            if match:
                return match[0]
        return None

    def bots(self) -> list[str]:
        return sorted({cmd.bot for cmd in self.commands.values()})

    def for_bot(self, bot: str) -> list[Command]:
        return sorted((c for c in self.commands.values() if c.bot == bot), key=lambda c: c.path)


def allowed(role: Role, level: int, is_admin: bool, member: bool = False) -> bool:
    """Whether a user with this power level (read where the command's `Scope` says), admin
    status and membership in a network (for `Role.member`) may run a command of `role`."""
    if is_admin or role is Role.anyone:
        return True
    if role is Role.member:
        return member
    return role is not Role.admin and level >= role.value
