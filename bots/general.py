"""Commands every instance has: help, ping and language."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.commands import Arg, Bot, Command, Role, Scope, command
from core.config import LANGUAGES
from core.context import Context
from core.i18n import LANGUAGE_NAMES, language_name
from core.text import Text

if TYPE_CHECKING:
    from core.app import App


class General(Bot):
    name = "general"
    featured = ("help", "lang", "ping")

    def __init__(self, app: App) -> None:
        self.app = app

    @command("help", Arg("topic", optional=True, rest=True), help="help.help")
    async def help(self, ctx: Context, topic: str | None) -> None:
        """A short overview; `!help <bot>` lists a bot's commands; `!help <command>` explains
        one. Only what the asker may run in this room is listed."""
        if not topic:
            await ctx.reply(await self._overview(ctx))
            return
        words = topic.removeprefix(self.prefix).split()
        group = self._group(words)
        found = self.app.registry.find(words)
        if group is not None:
            await ctx.reply(await self._group_details(ctx, words[0].lower(), group))
        elif found:
            await ctx.reply(await self._command_details(ctx, found[0]))
        else:
            await ctx.reply("help.unknown_topic", topic=topic, prefix=self.prefix)

    @property
    def prefix(self) -> str:
        return self.app.config.bots.command_prefix

    def _group(self, words: list[str]) -> list[Command] | None:
        """The commands `!help <word>` lists: a bot's, or a family's such as every `dir …`;
        None when the topic names one command."""
        if len(words) != 1:
            return None
        word = words[0].lower()
        if word in self.app.registry.bots():
            return self.app.registry.for_bot(word)
        family = self.app.registry.group(word)
        return family if len(family) > 1 else None

    async def _runnable(self, ctx: Context, commands: list[Command]) -> list[Command]:
        return [cmd for cmd in commands if await self.app.may_run(ctx, cmd)]

    async def _overview(self, ctx: Context) -> Text:
        """One line per bot: its title and its most used commands the asker may run here."""
        lines = []
        for bot in self.app.bots:
            commands = await self._runnable(ctx, self.app.registry.for_bot(bot.name))
            if not commands:
                continue
            featured = [cmd for cmd in commands if cmd.name in bot.featured] or commands[:3]
            featured.sort(key=lambda cmd: _rank(bot.featured, cmd.name))
            names = ", ".join(f"`{self.prefix}{cmd.name}`" for cmd in featured)
            lines.append(ctx.t("help.overview_line", bot=self._title(ctx, bot), names=names))
        languages = ", ".join(f"{LANGUAGE_NAMES[code]} ({code})" for code in LANGUAGES)
        more = ctx.t("help.more", prefix=self.prefix, languages=languages)
        return Text.join([ctx.t("help.title"), Text.bullets(lines), more])

    @staticmethod
    def _title(ctx: Context, bot: Bot) -> Text:
        """A bot's title in the overview (`help.bot.<name>`), else its name."""
        try:
            return ctx.t(f"help.bot.{bot.name}")
        except KeyError:
            return Text.plain(bot.name)

    async def _group_details(self, ctx: Context, word: str, commands: list[Command]) -> Text:
        runnable = await self._runnable(ctx, commands)
        if not runnable:
            return ctx.t("help.none_here", topic=word)
        lines = [
            ctx.t("help.line", usage=self.app.usage(cmd), help=ctx.t(cmd.help)) for cmd in runnable
        ]
        title = ctx.t("help.bot_title", bot=f"{self.prefix}{word}")
        return Text.join([title, Text.bullets(lines), ctx.t("help.one_more", prefix=self.prefix)])

    async def _command_details(self, ctx: Context, cmd: Command) -> Text:
        """Usage, what it does, who may run it, and examples."""
        who = "help.who.anyone" if cmd.role is Role.anyone else "help.who.role"
        parts = [
            ctx.t("help.usage", usage=self.app.usage(cmd)),
            ctx.t(cmd.help),
            ctx.t(who, role=ctx.t(f"role.{cmd.role.name}")),
        ]
        if not await self.app.may_run(ctx, cmd):
            parts.append(ctx.t("help.not_you"))
        examples = ctx.t(cmd.examples, prefix=self.prefix).body.splitlines()
        parts.append(ctx.t("help.examples_title"))
        parts.append(Text.bullets([ctx.t("help.example", example=line) for line in examples]))
        return Text.join(parts)

    @command("ping", help="ping.help")
    async def ping(self, ctx: Context) -> None:
        sent_ms = ctx.incoming.event.get("origin_server_ts", 0)
        transit = max(0, round(time.time() * 1000 - sent_ms)) if sent_ms else None
        await ctx.reply("ping.reply", handling=round(ctx.elapsed_ms, 1), transit=transit)

    @command("lang", Arg("language", optional=True, choices=LANGUAGES), help="lang.help")
    async def lang(self, ctx: Context, language: str | None) -> None:
        if language is None:
            choices = ", ".join(f"{code} ({LANGUAGE_NAMES[code]})" for code in LANGUAGES)
            name = language_name(ctx.language, ctx.language)
            await ctx.reply("lang.current", name=name, choices=choices)
            return
        self.app.store.db.table("user_settings").upsert(
            {"user_id": ctx.sender, "language": language, "updated_at": time.time()}, pk="user_id"
        )
        ctx.language = language
        await ctx.reply("lang.set", name=language_name(language, language))

    @command(
        "lang room",
        Arg("language", choices=LANGUAGES),
        role=Role.coordinator,
        scope=Scope.room,
        help="lang_room.help",
    )
    async def lang_room(self, ctx: Context, language: str) -> None:
        """The room's default language: it changes only this room, so the room's own power
        levels decide (in a room someone created, such as their chat with the bot, theirs)."""
        self.app.store.db.table("room_settings").upsert(
            {"room_id": ctx.room_id, "language": language, "updated_at": time.time()}, pk="room_id"
        )
        await ctx.reply("lang_room.set", name=language_name(language, ctx.language))


def _rank(featured: tuple[str, ...], name: str) -> int:
    """A command's place in a bot's overview line: as declared, the others after."""
    return featured.index(name) if name in featured else len(featured)
