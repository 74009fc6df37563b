"""`!buddy …`, `!buddies`: peer support. A new mentor asks for a buddy and gets an
experienced mentor — a shared language first, then the same region, then whoever
accompanies the fewest new mentors now — in an encrypted room for the two of them, with the
reasons for the match."""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from bots.network.common import iso, reply_privately
from bots.network.schema import COORDINATION, JOINED, Member, NetworkRow
from bots.sustain.common import NETWORK, SustainBot
from core.commands import Arg, Option, Role, command
from core.context import Context
from core.i18n import language_names
from core.messaging import notice
from core.people import Names
from core.rooms import MatrixError
from core.sending import SendError
from core.storage import Migrations
from core.text import Text, shorten

log = logging.getLogger(__name__)

migrations = Migrations("sustain-buddies")
NOVICE, EXPERIENCED = "mentor-novice", "mentor-experienced"
MAX_TOPIC = 200


@migrations.step
def _pairs(db: Any) -> None:
    # novice/mentor are NULL once a person asked to be forgotten: the pair still counts.
    db.execute(
        "CREATE TABLE buddy_pairs (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, novice TEXT, mentor TEXT, topic TEXT,"
        " languages TEXT, region TEXT, room_id TEXT, created_at REAL NOT NULL,"
        " ended_at REAL, ended_by TEXT)"
    )
    db.execute("CREATE INDEX buddy_pairs_network ON buddy_pairs (network_id, ended_at)")


@dataclass
class Match:
    """An experienced mentor and why they fit."""

    mentor: Member
    shared: list[str]  # languages both speak
    same_region: bool
    buddies: int  # new mentors they accompany now

    def key(self) -> tuple[Any, ...]:
        return (
            not self.shared,
            not self.same_region,
            self.buddies,
            self.mentor.joined_at or float("inf"),
            self.mentor.user_id,
        )


@dataclass
class Pair:
    id: int
    network_id: int
    novice: str | None
    mentor: str | None
    topic: str | None
    languages: str | None
    region: str | None
    room_id: str | None
    created_at: float


_PAIR_COLUMNS = "id, network_id, novice, mentor, topic, languages, region, room_id, created_at"


def languages_of(value: str | None) -> list[str]:
    """Language codes from free text like "de, tr" or "en/fr"."""
    codes = [part.strip().lower()[:2] for part in re.split(r"[,;/\s]+", value or "")]
    return list(dict.fromkeys(code for code in codes if len(code) == 2 and code.isalpha()))


def same_region(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def rank(
    languages: list[str], region: str | None, candidates: list[Member], load: dict[str, int]
) -> list[Match]:
    """Candidates, best first: shared language, then region, then fewest current buddies
    (then the longest in the network)."""
    matches = [
        Match(
            mentor,
            [code for code in languages if code in languages_of(mentor.languages)],
            same_region(region, mentor.region),
            load.get(mentor.user_id, 0),
        )
        for mentor in candidates
    ]
    return sorted(matches, key=Match.key)


def active_pairs(db: Any, network_id: int) -> list[Pair]:
    rows = db.execute(
        f"SELECT {_PAIR_COLUMNS} FROM buddy_pairs WHERE network_id = ? AND ended_at IS NULL"
        " ORDER BY created_at",
        [network_id],
    ).fetchall()
    return [Pair(*row) for row in rows]


class Buddies(SustainBot):
    name = "buddy"
    featured = ("buddy request", "buddies")
    migrations = migrations

    @command(
        "buddy request",
        Arg("topic", optional=True, rest=True),
        options=[Option("lang", str.lower, placeholder="de")],
        role=Role.member,
        network=True,
        help="sustain.buddy.request.help",
    )
    async def request(
        self, ctx: Context, topic: str | None, lang: str | None, net: NetworkRow
    ) -> None:
        novice = self.member(net, ctx.sender)
        if novice is None or novice.role != NOVICE:
            await ctx.reply("sustain.buddy.only_novices", prefix=self.prefix)
            return
        pairs = active_pairs(self.db, net.id)
        current = next((p for p in pairs if p.novice == ctx.sender), None)
        if current is not None:
            await ctx.reply(
                "sustain.buddy.already", since=ctx.day(current.created_at), prefix=self.prefix
            )
            return
        languages = languages_of(lang) if lang else languages_of(novice.languages)
        candidates = [
            m
            for m in self.data.members(net.id)
            if m.role == EXPERIENCED and m.status == JOINED and m.user_id != ctx.sender
        ]
        load: dict[str, int] = {}
        for pair in pairs:
            if pair.mentor:
                load[pair.mentor] = load.get(pair.mentor, 0) + 1
        ranked = rank(languages, novice.region, candidates, load)
        if not ranked:
            await ctx.reply("sustain.buddy.nobody", network=net.name)
            return
        topic = shorten(" ".join(topic.split()), MAX_TOPIC) if topic else None
        try:
            room_id = await self._pair_room(net, novice, ranked[0], topic, languages)
        except MatrixError as error:
            await ctx.reply("sustain.buddy.failed", error=str(error))
            return
        await ctx.reply("sustain.buddy.matched", network=net.name)
        log.info("buddies paired", extra={"network": net.id, "room": room_id})

    async def _pair_room(
        self,
        net: NetworkRow,
        novice: Member,
        match: Match,
        topic: str | None,
        languages: list[str],
    ) -> str:
        """Open the pair's encrypted room, invite both, remember the pair and say why."""
        language = self.language_of(novice.user_id, net)
        people = [novice.user_id, match.mentor.user_id]
        state = []
        if self.account.encrypted:
            encryption = {"algorithm": "m.megolm.v1.aes-sha2"}
            state.append({"type": "m.room.encryption", "state_key": "", "content": encryption})
        body = {
            # Room state is never encrypted: the name says nothing about who is in it.
            "name": self.t(language, "sustain.buddy.room_name", network=net.name).body,
            "preset": "private_chat",
            "visibility": "private",
            "invite": people,
            "initial_state": state,
        }
        result = await self.account.rooms.call("POST", "/_matrix/client/v3/createRoom", body)
        room_id = str(result["room_id"])
        now = self.now()
        pair = {
            "network_id": net.id,
            "novice": novice.user_id,
            "mentor": match.mentor.user_id,
            "topic": topic,
            "languages": ", ".join(match.shared) or None,
            "region": novice.region if match.same_region else None,
            "room_id": room_id,
            "created_at": now,
        }
        pair_id = self.db.table("buddy_pairs").insert(pair).last_pk
        for user_id in people:  # the room key must reach both
            await self.account.rooms.wait_for_member(room_id, user_id)
        text = self._why(language, net, novice, match, topic, languages, room_id)
        both = [novice.user_id, match.mentor.user_id]  # both are meant: the welcome notifies them
        await notice(self.account, room_id, text, txn=f"buddy/{pair_id}/hello", mentions=both)
        return room_id

    def _why(
        self,
        language: str,
        net: NetworkRow,
        novice: Member,
        match: Match,
        topic: str | None,
        languages: list[str],
        room_id: str,
    ) -> Text:
        t = self.t
        names = Names(self.app, room_id)
        mentor = names.one(match.mentor.user_id)
        novice_name = names.one(novice.user_id)
        lines = [t(language, "sustain.buddy.hello", novice=novice_name, mentor=mentor)]
        if match.shared:
            lines.append(
                t(
                    language,
                    "sustain.buddy.why_language",
                    languages=language_names(match.shared, language),
                )
            )
        elif languages:
            wanted = language_names(languages, language)
            lines.append(t(language, "sustain.buddy.why_no_language", languages=wanted))
        if match.same_region:
            lines.append(t(language, "sustain.buddy.why_region", region=novice.region or ""))
        lines.append(t(language, "sustain.buddy.why_load", mentor=mentor, count=match.buddies))
        if topic:
            lines.append(t(language, "sustain.buddy.topic", topic=topic))
        return Text.join(
            [
                Text.join(lines[:1]),
                Text.bullets(lines[1:]),
                t(language, "sustain.buddy.footer", prefix=self.prefix),
            ]
        )

    @command(
        "buddy end",
        Arg("user", optional=True),
        role=Role.member,
        network=True,
        help="sustain.buddy.end.help",
    )
    async def end(self, ctx: Context, user: str | None, net: NetworkRow) -> None:
        mine = [
            p
            for p in active_pairs(self.db, net.id)
            if ctx.sender in (p.novice, p.mentor) and user in (None, p.novice, p.mentor)
        ]
        if not mine:
            await ctx.reply("sustain.buddy.no_pair", network=net.name)
            return
        if len(mine) > 1:
            others = ctx.names.many(p.novice for p in mine if p.novice)
            await ctx.reply("sustain.buddy.which", others=others, prefix=self.prefix)
            return
        await self._end(net, mine[0], ctx.sender, txn=f"{ctx.event_id}/end")
        await ctx.reply("sustain.buddy.ended", network=net.name)

    async def _end(self, net: NetworkRow, pair: Pair, by: str | None, *, txn: str) -> None:
        self.db.table("buddy_pairs").update(pair.id, {"ended_at": self.now(), "ended_by": by})
        if not pair.room_id:
            return
        language = self.language_of(pair.novice, net) if pair.novice else net.language
        key = "sustain.buddy.goodbye" if by else "sustain.buddy.goodbye_forgotten"
        by_name = Names(self.app, pair.room_id).one(by) if by else ""
        text = self.t(language, key, by=by_name)
        with contextlib.suppress(SendError):  # logged; the pair ends all the same
            await notice(self.account, pair.room_id, text, txn=txn)
        await self.account.rooms.leave(pair.room_id)

    @command(
        "buddies",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.buddies.help",
    )
    async def show(self, ctx: Context, net: NetworkRow) -> None:
        pairs = active_pairs(self.db, net.id)
        ended = self.db.execute(
            "SELECT COUNT(*) FROM buddy_pairs WHERE network_id = ? AND ended_at IS NOT NULL",
            [net.id],
        ).fetchone()[0]
        title = ctx.t("sustain.buddies.title", network=net.name, active=len(pairs), ended=ended)
        lines = [self._pair_line(ctx, p) for p in pairs]
        text = Text.join([title, Text.bullets(lines)]) if lines else title
        if ctx.room_id == net.rooms.get(COORDINATION):
            await ctx.reply(text)
        else:  # who accompanies whom is personal: only in the network office or privately
            await reply_privately(ctx, text)

    def _pair_line(self, ctx: Context, pair: Pair) -> Text:
        """Who with whom since when; what they share and the topic only where there is one."""
        someone = ctx.t("sustain.someone")
        parts = [
            ctx.t(
                "sustain.buddies.line",
                novice=ctx.names.one(pair.novice) if pair.novice else someone,
                mentor=ctx.names.one(pair.mentor) if pair.mentor else someone,
                since=ctx.day(pair.created_at),
            )
        ]
        if pair.languages:
            parts.append(
                ctx.t(
                    "sustain.buddies.languages",
                    languages=language_names(pair.languages, ctx.language),
                )
            )
        if pair.region:
            parts.append(ctx.t("sustain.buddies.region", region=pair.region))
        if pair.topic:
            parts.append(ctx.t("sustain.buddies.topic", topic=pair.topic))
        return Text.join(parts, "; ")

    # --- personal data -----------------------------------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        rows = self.db.execute(
            "SELECT n.name, p.novice, p.mentor, p.topic, p.created_at, p.ended_at"
            " FROM buddy_pairs p JOIN networks n ON n.id = p.network_id"
            " WHERE p.novice = ? OR p.mentor = ? ORDER BY p.created_at",
            [user_id, user_id],
        ).fetchall()
        pairs = [
            {
                "network": net,
                "novice": novice,
                "mentor": mentor,
                "topic": topic,
                "started": iso(start),
                "ended": iso(end),
            }
            for net, novice, mentor, topic, start, end in rows
        ]
        return {"buddy_pairs": pairs} if pairs else {}

    async def forget_person(self, user_id: str) -> None:
        """End their pairs and keep them only as anonymous counts."""
        rows = self.db.execute(
            f"SELECT {_PAIR_COLUMNS} FROM buddy_pairs WHERE ended_at IS NULL"
            " AND (novice = ? OR mentor = ?)",
            [user_id, user_id],
        ).fetchall()
        for pair in (Pair(*row) for row in rows):
            net = self.data.get(pair.network_id)
            if net is not None:
                try:
                    await self._end(net, pair, None, txn=f"buddy/{pair.id}/forget")
                except MatrixError as error:
                    log.warning("could not close a pair room", extra={"error": str(error)})
        with self.app.store.transaction() as db:
            for column in ("novice", "mentor"):
                db.execute(
                    f"UPDATE buddy_pairs SET {column} = NULL, topic = NULL, languages = NULL,"
                    f" region = NULL WHERE {column} = ?",
                    [user_id],
                )
            db.execute("UPDATE buddy_pairs SET ended_by = NULL WHERE ended_by = ?", [user_id])
