"""`!res …`, the short name of every `!resource …` command: one command that hands the long
one to the runtime, so `!help` lists each command once, and permissions, usage errors and
the closest match for a typo are exactly those of the command it stands for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.account import Incoming
from core.context import Context

if TYPE_CHECKING:
    from core.app import App


async def run_alias(app: App, ctx: Context, long_name: str, words: str | None) -> None:
    """Run `!<long_name> <words>` for `!<short> <words>`, as if it had been typed."""
    prefix = app.config.bots.command_prefix
    if not words:
        await ctx.reply("res.alias.usage", prefix=prefix)
        return
    event = ctx.incoming.event
    content = {**ctx.incoming.content, "body": f"{prefix}{long_name} {words}"}
    content.pop("formatted_body", None)
    content.pop("format", None)
    long = Incoming(ctx.room_id, {**event, "content": content}, ctx.incoming.received)
    await app.handle(ctx.account, long)
