"""The process: configuration, storage, translations, the command registry, the Matrix
accounts, the bots and the web listener, started and stopped together."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.account import Account, Incoming
from core.clock import Clock
from core.commands import (
    Bot,
    Command,
    Registry,
    Role,
    Scope,
    UsageError,
    allowed,
    parse_arguments,
    split_words,
)
from core.config import Config
from core.context import Context
from core.i18n import default_catalog
from core.messaging import adopt_direct_room, messaging_migrations
from core.sending import SendError
from core.storage import open_store
from core.text import without_reply_fallback
from core.web import build_web, web_runner

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "default"
BotFactory = Callable[["App"], Bot]
S = TypeVar("S")


# The event loop shares Python with worker threads (a directory room's first copy validates in
# one and writes in another). A thread that wants the GIL back waits up to the switch interval
# for the one holding it, at every SQLite call and every turn of the loop: 0.5 ms instead of
# 5 ms. A copy allocates ~30 objects an entry; the collector's default of a young collection
# every 700 allocations spent ~0.6 s of a 10,000-entry copy's 3 s.
SWITCH_INTERVAL = 0.0005  # seconds
YOUNG_COLLECTION_EVERY = 10_000  # allocations


def share_the_interpreter() -> None:
    """Tune the GIL's switch interval and the garbage collector for the bots (see above)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


class App:
    """Everything one mentornet instance runs."""

    def __init__(
        self, config: Config, bots: Sequence[BotFactory], clock: Clock | None = None
    ) -> None:
        """`bots`: the factories of the bots to run (`bots.BOTS` for the product; core knows
        no bot of its own)."""
        self.config = config
        self.clock = clock or Clock()
        self.store = open_store(config.storage.database)
        self.store.migrate(messaging_migrations)
        self.catalog = default_catalog()
        self.registry = Registry()
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._services: dict[Callable[[App], Any], Any] = {}
        self.bots = [factory(self) for factory in bots]
        for bot in self.bots:
            if bot.migrations is not None:
                self.store.migrate(bot.migrations)
            self.registry.add_bot(bot)
        self.accounts = self._make_accounts()
        self.web = build_web(self)
        self._runner: web.AppRunner | None = None
        self._running_tick: dict[str, asyncio.Task[None]] = {}  # by bot name
        self._tick_locks: dict[str, asyncio.Lock] = {}
        self._tick_jobs: set[asyncio.Task[None]] = set()
        self.started_at = time.time()

    def _make_accounts(self) -> dict[str, Account]:
        crypto = self.config.storage.crypto_store if self.config.matrix.encryption else None
        settings = {DEFAULT_ACCOUNT: self.config.matrix, **self.config.bots.accounts}
        return {
            name: Account(
                name,
                account,
                self.store,
                crypto_store=str(crypto / name) if crypto else None,
                sync_timeout_ms=self.config.matrix.sync_timeout_ms,
                max_backoff=self.config.matrix.max_backoff_seconds,
                # no-replay needs a command's id while the command may still be run: its age
                # limit, plus a day for events that arrive late around a restart
                keep_handled_seconds=self.config.bots.max_command_age_hours * 3600 + 86_400,
                invite_allowed=self.config.invite_allowed,
                wants=self.wants,
                handle=self.handle,
                on_room_upgraded=self.room_upgraded,
                on_direct_invite=adopt_direct_room,
                bulky_state_types=tuple(t for bot in self.bots for t in bot.bulky_state_types),
            )
            for name, account in settings.items()
        }

    def service(self, kind: Callable[[App], S]) -> S:
        """The one instance of a service several bots share (such as the networks the
        network bot keeps), made from this app when a bot first asks for it. Bots take what
        they need in their constructor; core knows no service."""
        if kind not in self._services:
            self._services[kind] = kind(self)
        service: S = self._services[kind]
        return service

    @property
    def account(self) -> Account:
        """The default account."""
        return self.accounts[DEFAULT_ACCOUNT]

    @property
    def our_users(self) -> set[str]:
        return {account.user_id for account in self.accounts.values()}

    # --- life cycle ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Log in, serve until `stop` is set or an account fails for good, then shut down
        (also when starting failed half way)."""
        stopper = asyncio.create_task(stop.wait())
        syncs: list[asyncio.Task[None]] = []
        try:
            await self.start()
            syncs = [
                asyncio.create_task(account.run(), name=name)
                for name, account in self.accounts.items()
            ]
            done, _ = await asyncio.wait([stopper, *syncs], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()  # re-raise what stopped the sync loop
        finally:
            for task in [stopper, *syncs]:
                task.cancel()
            await asyncio.gather(stopper, *syncs, return_exceptions=True)
            await self.shutdown()

    async def start(self) -> None:
        share_the_interpreter()
        for account in self.accounts.values():
            await account.login()
        for bot in self.bots:
            await bot.start()
        for bot in self.bots:  # each bot's periodic work on its own: a slow one delays none
            self.scheduler.add_job(
                self._scheduled_tick,
                "interval",
                args=[bot],
                id=f"tick:{bot.name}",
                seconds=self.config.bots.tick_seconds,
                coalesce=True,
                max_instances=1,
            )
        self.scheduler.start()
        self._runner = web_runner(self.web)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.web.host, self.config.web.port).start()
        log.info("started", extra={"web": self.config.web.listen, "bots": self.registry.bots()})

    async def shutdown(self, grace: float = 10) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self._end_ticks(grace)
        for account in self.accounts.values():  # handlers finish before the bots stop
            await account.stop_handling(grace)
        for bot in self.bots:
            await bot.stop()
        for account in self.accounts.values():
            await account.stop()
        if self._runner:
            await self._runner.cleanup()
        self.store.close()
        log.info("stopped")

    async def _end_ticks(self, grace: float) -> None:
        """Let running periodic work finish (briefly), then cancel it."""
        running = list(self._running_tick.values())
        if running:
            await asyncio.wait(running, timeout=grace)
        waiting = [*running, *self._tick_jobs]
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    async def tick(self) -> None:
        """Let every bot do what has fallen due, all at once; returns when all are done."""
        await asyncio.gather(*(self.tick_bot(bot) for bot in self.bots))

    async def tick_bot(self, bot: Bot) -> None:
        """One bot's periodic work, never overlapping itself; a failure is logged, no more."""
        lock = self._tick_locks.setdefault(bot.name, asyncio.Lock())
        async with lock:
            task = asyncio.create_task(self._tick_once(bot), name=f"tick:{bot.name}")
            self._running_tick[bot.name] = task
            try:
                await task
            finally:
                del self._running_tick[bot.name]

    async def _scheduled_tick(self, bot: Bot) -> None:
        """The scheduler's job: start the bot's tick and return at once; a bot still busy
        with its previous tick is skipped quietly (the next interval tries again)."""
        lock = self._tick_locks.get(bot.name)
        if lock is None or not lock.locked():
            task = asyncio.create_task(self.tick_bot(bot))
            self._tick_jobs.add(task)
            task.add_done_callback(self._tick_jobs.discard)

    async def _tick_once(self, bot: Bot) -> None:
        try:
            await bot.tick(self.clock.now())
        except Exception:
            log.exception("scheduled work failed", extra={"bot": bot.name})

    # --- routing events to bots ------------------------------------------------------------

    def account_of(self, cmd: Command | None) -> str:
        if cmd is not None and cmd.bot in self.config.bots.accounts:
            return cmd.bot
        return DEFAULT_ACCOUNT

    def account_of_bot(self, bot: Bot) -> str:
        return self.account_named(bot.name)

    def account_named(self, bot_name: str) -> str:
        """The name of the account the bot called `bot_name` speaks with."""
        return bot_name if bot_name in self.config.bots.accounts else DEFAULT_ACCOUNT

    def _event_bots(self, account: Account, incoming: Incoming) -> list[Bot]:
        """The bots on this account that act on this (non-command) event."""
        ours = incoming.sender in self.our_users
        return [
            bot
            for bot in self.bots
            if self.account_of_bot(bot) == account.name
            and (bot.sees_own_events or not ours)
            and bot.wants(incoming)
        ]

    def wants(self, account: Account, incoming: Incoming) -> bool:
        """Whether this account must act on the event: a command for one of its bots, or an
        event one of its bots asked for."""
        body = self._command_text(incoming)
        if body is None:
            return bool(self._event_bots(account, incoming))
        age = time.time() - incoming.event.get("origin_server_ts", 0) / 1000
        if age > self.config.bots.max_command_age_hours * 3600:
            log.info(
                "ignoring an old command", extra={"event": incoming.event_id, "age_s": round(age)}
            )
            return False
        words = body[len(self.config.bots.command_prefix) :].split()
        found = self.registry.find(words)
        return self.account_of(found[0] if found else None) == account.name

    def _command_text(self, incoming: Incoming) -> str | None:
        """The command's text, or None when the event is not a command for us to answer."""
        event, content = incoming.event, incoming.content
        if event.get("type") != "m.room.message" or event.get("sender") in self.our_users:
            return None
        if "m.new_content" in content:
            return None  # edits of old commands are not run again
        msgtype, body = content.get("msgtype"), content.get("body")
        captioned = msgtype == "m.file" and content.get("filename") not in (None, body)
        if msgtype not in ("m.text", "m.emote") and not captioned:
            return None  # bots speak m.notice; a file is a command only through its caption
        if isinstance(body, str) and "m.in_reply_to" in (content.get("m.relates_to") or {}):
            body = without_reply_fallback(body)
        if not isinstance(body, str) or not body.startswith(self.config.bots.command_prefix):
            return None
        return body

    async def handle(self, account: Account, incoming: Incoming) -> None:
        """Run one command, or pass an event to the bots that asked for it."""
        ctx = Context(self, account, incoming, self.language(incoming.sender, incoming.room_id))
        body = self._command_text(incoming)
        if body is None:
            await self._pass_event(ctx, self._event_bots(account, incoming))
        else:
            await self._run_command(ctx, body)

    async def _pass_event(self, ctx: Context, bots: list[Bot]) -> None:
        """Each bot that asked for the event gets it, whatever another bot's handler did; a
        send that failed is raised to the inbox afterwards (kept, or logged as unanswered)."""
        unsent: SendError | None = None
        for bot in bots:
            try:
                await bot.on_event(ctx)
            except SendError as error:
                unsent = unsent or error
            except Exception:
                log.exception(
                    "event handler failed", extra={"bot": bot.name, "event": ctx.event_id}
                )
        if unsent is not None:
            raise unsent

    async def _run_command(self, ctx: Context, body: str) -> None:
        """Run one command, answering every mistake with one clear line."""
        size = len(body.encode())
        limit = self.config.bots.max_command_bytes
        if size > limit:
            await ctx.reply("error.too_long", size=round(size / 1000), limit=round(limit / 1000))
            return
        try:
            text, tokens = split_words(body[len(self.config.bots.command_prefix) :])
        except UsageError as error:
            await ctx.reply(ctx.t(error.key, **error.values))
            return
        found = self.registry.find([token.value for token in tokens])
        if found is None:
            await self._unknown(ctx, [token.value for token in tokens])
            return
        cmd, used = found
        try:
            arguments = parse_arguments(cmd, text, tokens[used:])
        except UsageError as error:
            await ctx.reply(
                "usage.line", error=ctx.t(error.key, **error.values), usage=self.usage(cmd)
            )
            return
        if not await self._permitted(ctx, cmd, arguments):
            return
        log.info("command", extra={"command": cmd.name, "room": ctx.room_id, "event": ctx.event_id})
        try:
            await self._call(ctx, cmd, arguments)
        except UsageError as error:
            await ctx.reply(
                "usage.line", error=ctx.t(error.key, **error.values), usage=self.usage(cmd)
            )
        except SendError as error:
            if error.room_id == ctx.room_id:
                raise  # the answer itself could not be sent: the inbox worker decides
            log.warning("command failed", extra={"command": cmd.name, "error": str(error)})
            await ctx.reply("error.internal")
        except Exception:
            log.exception("command failed", extra={"command": cmd.name, "event": ctx.event_id})
            await ctx.reply("error.internal")

    async def _call(self, ctx: Context, cmd: Command, arguments: dict[str, Any]) -> None:
        """Call the command's handler; one that acts on a network gets it as `net`, found by
        its bot from the `network:` option typed (if any). None found: the bot said why, and
        the handler is not called."""
        if cmd.network:
            net = await self.bot_of(cmd).network_for(ctx, cmd, arguments.pop("network", None))
            if net is None:
                return
            arguments["net"] = net
        await cmd.handler(ctx, **arguments)

    def usage(self, cmd: Command) -> str:
        return cmd.usage(self.config.bots.command_prefix)

    async def _unknown(self, ctx: Context, words: list[str]) -> None:
        if not words:
            return
        prefix = self.config.bots.command_prefix
        typed = prefix + " ".join(words[:2])
        if words[0].lower() in self.registry.bots() and len(words) == 1:
            typed = prefix + words[0]
        closest = self.registry.closest(words)
        if closest:
            await ctx.reply(
                "error.unknown_closest", typed=typed, closest=prefix + closest, prefix=prefix
            )
        else:
            await ctx.reply("error.unknown", typed=typed, prefix=prefix)

    def bot_of(self, cmd: Command) -> Bot:
        return next(bot for bot in self.bots if bot.name == cmd.bot)

    async def _permitted(self, ctx: Context, cmd: Command, arguments: dict[str, Any]) -> bool:
        """Whether the asker may run `cmd`; a refusal is answered with one line."""
        if cmd.role is Role.anyone:
            return True
        decided = await self.bot_of(cmd).permits(ctx, cmd, arguments)
        if decided is not None:  # the bot explained a refusal itself
            return decided
        if cmd.role is Role.member:
            if ctx.is_admin or await ctx.in_network():
                return True
            await ctx.reply(
                "error.members_only", command=self.config.bots.command_prefix + cmd.name
            )
            return False
        level = await self._level(ctx, cmd)
        if allowed(cmd.role, level, ctx.is_admin):
            return True
        await ctx.reply(
            "error.refused" if cmd.scope is Scope.room else "error.refused_network",
            command=self.config.bots.command_prefix + cmd.name,
            role=ctx.t(f"role.{cmd.role.name}"),
            level=level,
        )
        return False

    async def may_run(self, ctx: Context, cmd: Command) -> bool:
        """Whether the asker may run `cmd` from this room, by the same rule as running it (for
        `!help`): the bot's own decision, else their level where the command's scope says."""
        if cmd.role is Role.anyone:
            return True
        decided = await self.bot_of(cmd).permits(ctx, cmd, None)
        if decided is not None:
            return decided
        if cmd.role is Role.member:
            return allowed(cmd.role, 0, ctx.is_admin, member=await ctx.in_network())
        return allowed(cmd.role, await self._level(ctx, cmd), ctx.is_admin)

    @staticmethod
    async def _level(ctx: Context, cmd: Command) -> int:
        """The asker's level as it counts for `cmd`: in the room itself for a command that
        changes only the room; otherwise in the network, never in a room the asker made."""
        if cmd.scope is Scope.room:
            return await ctx.power_level()
        return await ctx.network_level()

    # --- settings --------------------------------------------------------------------------

    def language(
        self,
        user_id: str,
        room_id: str | None = None,
        *,
        given: str | None = None,
        room_language: str | None = None,
    ) -> str:
        """The one rule for the language we write to a person in: their own `!lang`, else
        the language given for them at onboarding (`given`, else what a bot keeps), else the
        room's language (`room_id`'s setting, or `room_language` for a message to a network's
        member, whose rooms speak the network's), else the instance default."""
        row = self.store.db.execute(
            "SELECT (SELECT language FROM user_settings WHERE user_id = ?),"
            " (SELECT language FROM room_settings WHERE room_id = ?)",
            [user_id, room_id],
        ).fetchone()
        if row[0]:
            return row[0]
        given = given or next(
            (lang for bot in self.bots if (lang := bot.language_given(user_id))), None
        )
        return given or row[1] or room_language or self.config.bots.default_language

    async def room_upgraded(self, account: Account, old_room: str, new_room: str) -> None:
        self.store.db.execute(
            "INSERT OR IGNORE INTO room_settings (room_id, language, updated_at)"
            " SELECT ?, language, updated_at FROM room_settings WHERE room_id = ?",
            [new_room, old_room],
        )
        for bot in self.bots:
            await bot.room_upgraded(old_room, new_room)
