"""Commands every instance has: help, ping and language."""

from __future__ import annotations

import time

from core.commands import Arg, Bot, Command, Role, command
from core.config import LANGUAGES
from core.context import Context
from core.i18n import LANGUAGE_NAMES, language_name
from core.text import Text


class General(Bot):
    name = "general"

    def __init__(self, app) -> None:
        self.app = app

    @command("help", Arg("topic", optional=True, rest=True), help="help.help")
    async def help(self, ctx: Context, topic: str | None) -> None:
        if not topic:
            await ctx.reply(await self._overview(ctx))
            return
        words = topic.removeprefix(self.app.config.bots.command_prefix).split()
        found = self.app.registry.find(words)
        if words and words[0].lower() in self.app.registry.bots():
            await ctx.reply(self._bot_details(ctx, words[0].lower()))
        elif found:
            await ctx.reply(self._command_line(ctx, found[0], with_role=True))
        else:
            await ctx.reply(
                "help.unknown_topic", topic=topic, prefix=self.app.config.bots.command_prefix
            )

    async def _overview(self, ctx: Context) -> Text:
        lines = []
        for bot in self.app.registry.bots():
            for cmd in self.app.registry.for_bot(bot):
                if await self.app.may_run(ctx, cmd):
                    lines.append(self._command_line(ctx, cmd))
        bots = ", ".join(self.app.registry.bots())
        languages = ", ".join(f"{LANGUAGE_NAMES[code]} ({code})" for code in LANGUAGES)
        return Text.join(
            [
                ctx.t("help.title"),
                Text.bullets(lines),
                ctx.t(
                    "help.more",
                    prefix=self.app.config.bots.command_prefix,
                    bots=bots,
                    languages=languages,
                ),
            ]
        )

    def _bot_details(self, ctx: Context, bot: str) -> Text:
        lines = [
            self._command_line(ctx, cmd, with_role=True) for cmd in self.app.registry.for_bot(bot)
        ]
        return Text.join([ctx.t("help.bot_title", bot=bot), Text.bullets(lines)])

    def _command_line(self, ctx: Context, cmd: Command, with_role: bool = False) -> Text:
        line = ctx.t("help.line", usage=self.app.usage(cmd), help=ctx.t(cmd.help))
        if with_role and cmd.role is not Role.anyone:
            line = Text.join([line, ctx.t("help.role", role=ctx.t(f"role.{cmd.role.name}"))], " ")
        return line

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
        self.app.store.db.execute(
            "INSERT INTO user_settings (user_id, language, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT(user_id) DO UPDATE SET language = excluded.language,"
            " updated_at = excluded.updated_at",
            [ctx.sender, language, time.time()],
        )
        ctx.language = language
        await ctx.reply("lang.set", name=language_name(language, language))

    @command(
        "lang room",
        Arg("language", choices=LANGUAGES),
        role=Role.coordinator,
        help="lang_room.help",
    )
    async def lang_room(self, ctx: Context, language: str) -> None:
        self.app.store.db.execute(
            "INSERT INTO room_settings (room_id, language, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT(room_id) DO UPDATE SET language = excluded.language,"
            " updated_at = excluded.updated_at",
            [ctx.room_id, language, time.time()],
        )
        await ctx.reply("lang_room.set", name=LANGUAGE_NAMES[language])
