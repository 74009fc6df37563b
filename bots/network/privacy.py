"""`!me`: what the instance stores about the asker, as a message or a JSON file, and erasing
it (DESIGN §4).

The runtime's own tables are read here (the language a person chose, their direct chat with
the bots, events still waiting to be handled); every bot that keeps data about people takes
part by offering two methods:

    def personal_data(self, user_id: str) -> dict[str, Any]   # JSON-ready; {} when nothing
    async def forget_person(self, user_id: str) -> None         # erase it, leave rooms clean
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from bots.network.common import (
    dm_rooms,
    fields_text,
    is_private,
    iso,
    open_dm,
    reply_privately,
)
from bots.network.matrix import Homeserver
from core.account import Account
from core.commands import Arg, Bot, command
from core.context import Context
from core.i18n import LANGUAGE_NAMES
from core.messaging import MessagingError, send_file
from core.storage import Migrations
from core.text import Text

log = logging.getLogger(__name__)

CONFIRM_WINDOW = timedelta(minutes=10)
CONFIRM_WORDS = ("confirm",)

migrations = Migrations("privacy")


@migrations.step
def _forget_requests(db: Any) -> None:
    # A `!me forget` waiting for its confirmation; dropped after CONFIRM_WINDOW.
    db.execute(
        "CREATE TABLE forget_requests (user_id TEXT PRIMARY KEY, requested_at REAL NOT NULL)"
    )


class Privacy(Bot):
    name = "me"
    featured = ("me", "me export", "me forget")
    migrations = migrations

    def __init__(self, app: Any) -> None:
        self.app = app

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
            await reply_privately(ctx, ctx.t("me.nothing", user=ctx.sender))
            return
        items = []
        settings = found.get("settings")
        if settings:
            items.append(ctx.t("me.language", name=LANGUAGE_NAMES.get(settings["language"], "?")))
        for chat in found.get("direct_chats", []):
            items.append(ctx.t("me.direct_chat", room=chat["room_id"]))
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
                ctx.t("me.title", user=ctx.sender),
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
        if is_private(ctx.account, ctx.room_id, ctx.sender):
            room_id = ctx.room_id
        else:
            room_id = await open_dm(ctx.account, ctx.sender)
        try:
            await send_file(
                ctx.account,
                room_id,
                payload,
                "mentornet-my-data.json",
                "application/json",
                txn=f"{ctx.event_id}/export",
            )
        except MessagingError as error:
            await ctx.reply("me.export.failed", error=str(error))
            return
        await ctx.reply("me.export.here" if room_id == ctx.room_id else "me.export.sent")

    @command(
        "me forget", Arg("confirm", optional=True, choices=CONFIRM_WORDS), help="me.forget.help"
    )
    async def forget(self, ctx: Context, confirm: str | None) -> None:
        db = self.app.store.db
        now = self.app.clock.now()
        prefix = self.app.config.bots.command_prefix
        if confirm is None:
            db.execute(
                "INSERT INTO forget_requests (user_id, requested_at) VALUES (?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET requested_at = excluded.requested_at",
                [ctx.sender, now.timestamp()],
            )
            networks = self._call_network("networks_of", ctx.sender) or []
            lines = [
                ctx.t(
                    "me.forget.ask",
                    networks=", ".join(networks) or "—",
                    minutes=int(CONFIRM_WINDOW.total_seconds() // 60),
                    prefix=prefix,
                )
            ]
            for name in self._call_network("sole_meta_mentor_of", ctx.sender) or []:
                lines.append(ctx.t("me.forget.last_meta_mentor", network=name, prefix=prefix))
            await ctx.reply(Text.join(lines, "\n\n"))
            return
        row = db.execute(
            "SELECT requested_at FROM forget_requests WHERE user_id = ?", [ctx.sender]
        ).fetchone()
        if row is None or now.timestamp() - row[0] > CONFIRM_WINDOW.total_seconds():
            db.execute("DELETE FROM forget_requests WHERE user_id = ?", [ctx.sender])
            await ctx.reply("me.forget.no_request", prefix=prefix)
            return
        networks = self._call_network("networks_of", ctx.sender) or []
        chats = dm_rooms(ctx.account, ctx.sender)
        await ctx.reply("me.forget.done", count=len(networks))
        await self.erase(ctx.sender, chats, farewell=ctx)

    def _call_network(self, method: str, user_id: str) -> Any:
        for bot in self._others():
            function = getattr(bot, method, None)
            if function is not None:
                return function(user_id)
        return None

    async def erase(
        self, user_id: str, chats: list[tuple[str, str]], farewell: Context | None = None
    ) -> None:
        """Erase `user_id` everywhere: every bot's data (bots also remove them from their
        rooms), then the runtime's tables; then say goodbye and leave the direct chats."""
        for bot in self._others():
            forget = getattr(bot, "forget_person", None)
            if forget is not None:
                try:
                    await forget(user_id)
                except Exception:
                    log.exception("a bot could not forget a person", extra={"bot": bot.name})
        with self.app.store.transaction() as db:
            db.execute("DELETE FROM forget_requests WHERE user_id = ?", [user_id])
            db.execute("DELETE FROM user_settings WHERE user_id = ?", [user_id])
            for _, room_id in chats:
                db.execute("DELETE FROM room_settings WHERE room_id = ?", [room_id])
            db.execute("DELETE FROM direct_rooms WHERE user_id = ?", [user_id])
            for table in ("inbox", "undecrypted"):
                db.execute(
                    f"DELETE FROM {table} WHERE json_extract(event, '$.sender') = ?"
                    " OR json_extract(event, '$.state_key') = ?",
                    [user_id, user_id],
                )
        if farewell is not None and any(room_id == farewell.room_id for _, room_id in chats):
            await farewell.reply("me.forget.finished")
        for account, room_id in chats:
            await Homeserver(self.app.accounts.get(account, self.account)).leave(
                room_id, forget=True
            )

    async def tick(self, now: Any) -> None:
        """Unconfirmed requests to forget expire."""
        cutoff = now.timestamp() - CONFIRM_WINDOW.total_seconds()
        self.app.store.db.execute("DELETE FROM forget_requests WHERE requested_at < ?", [cutoff])
