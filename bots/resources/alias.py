"""`!res …`, the short name of every `!resource …` command: one command that runs the long
one, so `!help` lists each command once. Permissions and usage errors are those of the
command it stands for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.commands import UsageError, parse_arguments, split_words
from core.context import Context

if TYPE_CHECKING:
    from core.app import App


async def run_alias(app: App, ctx: Context, long_name: str, words: str | None) -> None:
    """Run `!<long_name> <words>` for `!<short> <words>`."""
    prefix = app.config.bots.command_prefix
    if not words:
        await ctx.reply("res.alias.usage", prefix=prefix)
        return
    try:
        text, tokens = split_words(words)
    except UsageError as error:
        await ctx.reply(ctx.t(error.key, **error.values))
        return
    values = [token.value for token in tokens]
    found = app.registry.find([long_name, *values])
    if found is None or found[1] < 2:
        closest = app.registry.closest([long_name, *values])
        typed = f"{prefix}{long_name} {values[0]}"
        if closest:
            await ctx.reply(
                "error.unknown_closest", typed=typed, closest=prefix + closest, prefix=prefix
            )
        else:
            await ctx.reply("error.unknown", typed=typed, prefix=prefix)
        return
    cmd, used = found
    if not await app.may_run(ctx, cmd):
        level = await ctx.power_level()
        role = ctx.t(f"role.{cmd.role.name}")
        await ctx.reply("error.refused", command=prefix + cmd.name, role=role, level=level)
        return
    try:
        arguments = parse_arguments(cmd, text, tokens[used - 1 :])
        await cmd.handler(ctx, **arguments)
    except UsageError as error:
        await ctx.reply("usage.line", error=ctx.t(error.key, **error.values), usage=app.usage(cmd))
