"""`!me`: what the instance stores about the asker, as a message or a JSON file, and erasing
it: data about people stays on this instance, and each person may see and erase theirs.

The runtime's own tables are read here (the language a person chose, their direct chat with
the bots, events still waiting to be handled); every bot that keeps data about people takes
part by offering two methods:

    def personal_data(self, user_id: str) -> dict[str, Any]   # JSON-ready; {} when nothing
    async def forget_person(self, user_id: str) -> None         # erase it, leave rooms clean
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bots.network.common import (
    dm_rooms,
    fields_text,
    iso,
    private_chat,
    reply_privately,
    sent_there,
)
from bots.network.matrix import Homeserver, MatrixCallError
from bots.network.service import Networks
from core.account import Account
from core.commands import Arg, Bot, command
from core.context import REPLY_ATTEMPTS, Context
from core.i18n import language_name
from core.messaging import MessagingError, SendError, forget_direct_chats, notice, send_file
from core.storage import Migrations
from core.text import Text

log = logging.getLogger(__name__)

CONFIRM_WINDOW = timedelta(minutes=10)
CONFIRM_WORDS = ("confirm",)
RETRY_FIRST = 60.0  # seconds until a bot that could not forget someone is asked again
RETRY_MAX = 6 * 3600.0  # the back-off doubles up to this

migrations = Migrations("privacy")


@migrations.step
def _forget_requests(db: Any) -> None:
    # A `!me forget` waiting for its confirmation; dropped after CONFIRM_WINDOW.
    db.execute(
        "CREATE TABLE forget_requests (user_id TEXT PRIMARY KEY, requested_at REAL NOT NULL)"
    )


@migrations.step
def _erasures(db: Any) -> None:
    # A confirmed `!me forget` until every bot has erased the person: the bots still to
    # confirm, where the request was made (to answer there) and when to try again.
    db.execute(
        "CREATE TABLE forget_pending (user_id TEXT PRIMARY KEY, account TEXT NOT NULL,"
        " room_id TEXT NOT NULL, event_id TEXT NOT NULL, language TEXT NOT NULL,"
        " chats TEXT NOT NULL, pending TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,"
        " next_try_at REAL NOT NULL, requested_at REAL NOT NULL)"
    )


@dataclass
class Erasure:
    """A confirmed request to forget someone, kept until every bot has confirmed."""

    user_id: str
    account: str
    room_id: str
    event_id: str
    language: str
    chats: list[tuple[str, str]]
    pending: list[str]
    tries: int


class Privacy(Bot):
    name = "me"
    featured = ("me", "me export", "me forget")
    migrations = migrations

    def __init__(self, app: Any) -> None:
        self.app = app
        self.networks = app.service(Networks)

    @property
    def account(self) -> Account:
        return self.app.accounts[self.app.account_of_bot(self)]

    def _others(self) -> list[Any]:
        return [bot for bot in self.app.bots if bot is not self]

    # --- collecting ------------------------------------------------------------------------

    def collect(self, user_id: str) -> dict[str, Any]:
        """Everything stored about `user_id`, by part, JSON-ready."""
        db = self.app.store.db
        found: dict[str, Any] = {}
        settings = db.execute(
            "SELECT language, updated_at FROM user_settings WHERE user_id = ?", [user_id]
        ).fetchone()
        if settings and settings[0]:
            found["settings"] = {"language": settings[0], "updated_at": iso(settings[1])}
        chats = db.execute(
            "SELECT room_id, created_at FROM direct_rooms WHERE user_id = ?", [user_id]
        ).fetchall()
        if chats:
            found["direct_chats"] = [
                {"room_id": room_id, "created_at": iso(created)} for room_id, created in chats
            ]
        waiting = db.execute(
            "SELECT COUNT(*) FROM inbox WHERE json_extract(event, '$.sender') = ?", [user_id]
        ).fetchone()[0]
        if waiting > 1:  # the command being answered is one of them
            found["events_waiting"] = waiting - 1
        for bot in self._others():
            collect = getattr(bot, "personal_data", None)
            if collect is not None:
                data = collect(user_id)
                if data:
                    found[bot.name] = data
        return found

    # --- commands --------------------------------------------------------------------------

    @command("me", help="me.help")
    async def me(self, ctx: Context) -> None:
        found = self.collect(ctx.sender)
        prefix = self.app.config.bots.command_prefix
        if not found:
            await reply_privately(ctx, ctx.t("me.nothing", user=ctx.names.one(ctx.sender)))
            return
        items = []
        settings = found.get("settings")
        if settings and settings.get("language"):
            name = language_name(settings["language"], ctx.language)
            items.append(ctx.t("me.language", name=name))
        for chat in found.get("direct_chats", []):
            key = "me.direct_chat.here" if chat["room_id"] == ctx.room_id else "me.direct_chat"
            items.append(ctx.t(key))
        if "events_waiting" in found:
            items.append(ctx.t("me.waiting", count=found["events_waiting"]))
        for membership in (found.get("network") or {}).get("memberships", []):
            details = {k: v for k, v in membership.items() if k != "network"}
            items.append(
                Text.join(
                    [
                        ctx.t("me.network", network=str(membership["network"])),
                        fields_text(ctx, details),
                    ],
                    " ",
                )
            )
        for name in (found.get("network") or {}).get("networks_created", []):
            items.append(ctx.t("me.created", network=name))
        for part, data in found.items():
            if part in ("settings", "direct_chats", "events_waiting", "network"):
                continue
            items.append(Text.join([ctx.t("me.other", part=part), fields_text(ctx, data)], " "))
        text = Text.join(
            [
                ctx.t("me.title", user=ctx.names.one(ctx.sender)),
                Text.bullets(items),
                ctx.t("me.footer", prefix=prefix),
            ]
        )
        await reply_privately(ctx, text)

    @command("me export", help="me.export.help")
    async def export(self, ctx: Context) -> None:
        document = {
            "user_id": ctx.sender,
            "exported_at": self.app.clock.now().isoformat(timespec="seconds"),
            "instance": self.account.user_id.split(":", 1)[1],
            "data": self.collect(ctx.sender),
        }
        payload = json.dumps(document, ensure_ascii=False, indent=2).encode()
        chat = await private_chat(ctx)
        try:
            await send_file(
                ctx.account,
                chat.room_id,
                payload,
                "mentornet-my-data.json",
                "application/json",
                txn=f"{ctx.event_id}/export",
            )
        except MessagingError as error:
            await ctx.reply("me.export.failed", error=str(error))
            return
        if chat.room_id == ctx.room_id:
            await ctx.reply("me.export.here")
        else:
            await ctx.reply(sent_there(ctx, chat, "me.export.sent"))

    @command(
        "me forget", Arg("confirm", optional=True, choices=CONFIRM_WORDS), help="me.forget.help"
    )
    async def forget(self, ctx: Context, confirm: str | None) -> None:
        db = self.app.store.db
        now = self.app.clock.now()
        prefix = self.app.config.bots.command_prefix
        if confirm is None:
            db.table("forget_requests").upsert(
                {"user_id": ctx.sender, "requested_at": now.timestamp()}, pk="user_id"
            )
            networks = self.networks.names_of(ctx.sender)
            lines = [
                ctx.t(
                    "me.forget.ask" if networks else "me.forget.ask_no_network",
                    networks=", ".join(networks),
                    minutes=int(CONFIRM_WINDOW.total_seconds() // 60),
                    prefix=prefix,
                )
            ]
            for name in self.networks.sole_meta_mentor_of(ctx.sender):
                lines.append(ctx.t("me.forget.last_meta_mentor", network=name, prefix=prefix))
            await ctx.reply(Text.join(lines, "\n\n"))
            return
        kept = self._erasure(ctx.sender)
        if kept is None or kept.event_id != ctx.event_id:  # else: this command, run again
            row = db.execute(
                "SELECT requested_at FROM forget_requests WHERE user_id = ?", [ctx.sender]
            ).fetchone()
            if row is None or now.timestamp() - row[0] > CONFIRM_WINDOW.total_seconds():
                db.table("forget_requests").delete_where("user_id = ?", [ctx.sender])
                await ctx.reply("me.forget.no_request", prefix=prefix)
                return
            self._keep(ctx)  # before answering: a command cut short is taken up by the tick
        networks = self.networks.names_of(ctx.sender)
        await ctx.reply("me.forget.done", count=len(networks))
        await self.erase(ctx.sender)

    def _keep(self, ctx: Context) -> None:
        """Keep the confirmed request (durably) until every bot has forgotten the person."""
        bots = [bot.name for bot in self._others() if hasattr(bot, "forget_person")]
        chats = dm_rooms(ctx.account, ctx.sender)
        now = self.app.clock.now().timestamp()
        # The first try runs right after this; the tick takes over later if it is cut short.
        with self.app.store.transaction() as db:
            db.table("forget_requests").delete_where("user_id = ?", [ctx.sender])
            pending = {
                "user_id": ctx.sender,
                "account": ctx.account.name,
                "room_id": ctx.room_id,
                "event_id": ctx.event_id,
                "language": ctx.language,
                "chats": json.dumps(chats),
                "pending": json.dumps(bots),
                "tries": 0,
                "next_try_at": now + RETRY_FIRST,
                "requested_at": now,
            }
            db.table("forget_pending").upsert(pending, pk="user_id")

    def _erasure(self, user_id: str) -> Erasure | None:
        row = self.app.store.db.execute(
            "SELECT user_id, account, room_id, event_id, language, chats, pending, tries"
            " FROM forget_pending WHERE user_id = ?",
            [user_id],
        ).fetchone()
        if row is None:
            return None
        chats = [(account, room) for account, room in json.loads(row[5])]
        user_id, account, room_id, event_id, language = row[:5]
        return Erasure(
            user_id, account, room_id, event_id, language, chats, json.loads(row[6]), row[7]
        )

    async def erase(self, user_id: str) -> None:
        """Ask every bot still pending to erase `user_id` (bots also remove them from their
        rooms). Once all have, erase the runtime's tables, say goodbye and leave the direct
        chats; until then keep the request, tell the person what is pending (once) and try
        again with back-off."""
        erasure = self._erasure(user_id)
        if erasure is None:
            return
        failed = []
        for bot in self._others():
            if bot.name not in erasure.pending:
                continue
            try:
                await bot.forget_person(user_id)
            except Exception:
                log.exception("a bot could not forget a person", extra={"bot": bot.name})
                failed.append(bot.name)
        if failed:
            await self._postpone(erasure, failed)
        else:
            await self._finish(erasure)

    async def _postpone(self, erasure: Erasure, failed: list[str]) -> None:
        tries = erasure.tries + 1
        delay = min(RETRY_FIRST * 2 ** (tries - 1), RETRY_MAX)
        self.app.store.db.execute(
            "UPDATE forget_pending SET pending = ?, tries = ?, next_try_at = ? WHERE user_id = ?",
            [json.dumps(failed), tries, self.app.clock.now().timestamp() + delay, erasure.user_id],
        )
        if erasure.tries == 0:
            with contextlib.suppress(SendError):  # logged; the erasure goes on regardless
                await self._tell(erasure, "me.forget.pending", parts=", ".join(failed))

    async def _finish(self, erasure: Erasure) -> None:
        user_id, chats = erasure.user_id, erasure.chats
        with self.app.store.transaction() as db:
            db.table("user_settings").delete_where("user_id = ?", [user_id])
            for _, room_id in chats:
                db.table("room_settings").delete_where("room_id = ?", [room_id])
            db.table("direct_rooms").delete_where("user_id = ?", [user_id])
            for table in ("inbox", "undecrypted"):
                db.execute(
                    f"DELETE FROM {table} WHERE json_extract(event, '$.sender') = ?"
                    " OR json_extract(event, '$.state_key') = ?",
                    [user_id, user_id],
                )
        in_chat = any(room_id == erasure.room_id for _, room_id in chats)
        try:
            if in_chat:
                await self._tell(erasure, "me.forget.finished")
            elif erasure.tries:  # they were told something was pending: now it is done
                await self._tell(erasure, "me.forget.completed")
        except SendError as error:
            if error.transient:
                raise  # the request stays; the next try tells them
        self.app.store.db.table("forget_pending").delete_where("user_id = ?", [user_id])
        left: list[str] = []
        for account in self.app.accounts.values():  # their entry in the bots' m.direct
            try:
                left += await forget_direct_chats(account, user_id)
            except MatrixCallError as error:
                log.warning("m.direct still names someone forgotten", extra={"error": str(error)})
        for account, room_id in chats:
            if room_id not in left:
                await Homeserver(self.app.accounts.get(account, self.account)).leave(
                    room_id, forget=True
                )

    async def _tell(self, erasure: Erasure, key: str, **values: Any) -> None:
        """Answer the request where it was made, in the asker's language."""
        await notice(
            self.app.accounts.get(erasure.account, self.account),
            erasure.room_id,
            self.app.catalog.text(erasure.language, key, **values),
            txn=f"{erasure.event_id}/forget/{key}",
            reply_to=erasure.event_id,
            mentions=[erasure.user_id],
            attempts=REPLY_ATTEMPTS,
        )

    async def tick(self, now: Any) -> None:
        """Unconfirmed requests to forget expire; erasures still pending are tried again."""
        cutoff = now.timestamp() - CONFIRM_WINDOW.total_seconds()
        db = self.app.store.db
        db.execute("DELETE FROM forget_requests WHERE requested_at < ?", [cutoff])
        due = db.execute(
            "SELECT user_id FROM forget_pending WHERE next_try_at <= ?", [now.timestamp()]
        ).fetchall()
        for (user_id,) in due:
            try:
                await self.erase(user_id)
            except Exception:
                log.exception("erasure not finished", extra={"try_again": "next tick"})
