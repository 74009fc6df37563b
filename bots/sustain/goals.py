"""`!goal …`, `!goals`: the shared goals that guided a network's founding, with progress,
announced in the announcements room when reached (mentorNET strategy: "work towards
achieving the assumed goals")."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from bots.network.schema import ANNOUNCEMENTS, NetworkRow
from bots.sustain.common import NETWORK, SustainBot, day, next_number, parse_day
from core.commands import Arg, Option, Role, command
from core.context import Context
from core.dates import day_text
from core.sending import SendError
from core.storage import Migrations
from core.text import Text, shorten

migrations = Migrations("sustain-goals")
MAX_TEXT = 300
MILESTONES = (25, 50, 75)  # announced the first time a goal's progress passes them


@migrations.step
def _goals(db: Any) -> None:
    db.execute(
        "CREATE TABLE goals (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, number INTEGER NOT NULL,"
        " text TEXT NOT NULL, due TEXT, percent INTEGER NOT NULL DEFAULT 0,"
        " created_by TEXT, created_at REAL NOT NULL, reached_at REAL,"
        " UNIQUE (network_id, number))"
    )
    db.execute(
        "CREATE TABLE goal_updates (id INTEGER PRIMARY KEY, goal_id INTEGER NOT NULL"
        " REFERENCES goals(id) ON DELETE CASCADE, percent INTEGER NOT NULL, note TEXT,"
        " updated_by TEXT, updated_at REAL NOT NULL)"
    )


@dataclass
class Goal:
    id: int
    network_id: int
    number: int
    text: str
    due: str | None
    percent: int
    created_at: float
    reached_at: float | None
    note: str | None = None  # the latest update's note

    def overdue(self, today: date) -> bool:
        if not self.due:
            return False
        return self.percent < 100 and date.fromisoformat(self.due) < today


def percent(value: str) -> int:
    number = int(value.strip().rstrip("%"))
    if not 0 <= number <= 100:
        raise ValueError("give a number from 0 to 100")
    return number


def goals_of(db: Any, network_id: int) -> list[Goal]:
    """The network's goals, by number, each with its latest note."""
    rows = db.execute(
        "SELECT id, network_id, number, text, due, percent, created_at, reached_at,"
        " (SELECT note FROM goal_updates u WHERE u.goal_id = goals.id AND note IS NOT NULL"
        "  ORDER BY updated_at DESC, u.id DESC LIMIT 1)"
        " FROM goals WHERE network_id = ? ORDER BY number",
        [network_id],
    ).fetchall()
    return [Goal(*row) for row in rows]


def progress_bar(value: int) -> str:
    filled = round(value / 10)
    return "▰" * filled + "▱" * (10 - filled)


class Goals(SustainBot):
    name = "goal"
    featured = ("goals", "goal add", "goal update")
    migrations = migrations

    @command(
        "goal add",
        Arg("text", rest=True),
        options=[Option("due", parse_day, placeholder="2027-06-30"), NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.goal.add.help",
    )
    async def add(self, ctx: Context, text: str, due: date | None, net: NetworkRow) -> None:
        text = " ".join(text.split())
        if not text or len(text) > MAX_TEXT:
            await ctx.reply("sustain.goal.bad_text", limit=MAX_TEXT)
            return
        number = next_number(self.db, "goals", net.id)
        goal = {
            "network_id": net.id,
            "number": number,
            "text": text,
            "due": due.isoformat() if due else None,
            "created_by": ctx.sender,
            "created_at": self.now(),
        }
        self.db.table("goals").insert(goal)
        dated = {"due": day_text(due, ctx.language)} if due else {}
        key = "sustain.goal.added_due" if due else "sustain.goal.added"
        await ctx.reply(key, number=number, goal=text, prefix=self.prefix, **dated)

    @command(
        "goal update",
        Arg("number", int),
        Arg("percent", percent),
        Arg("note", optional=True, rest=True),
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.goal.update.help",
    )
    async def update(
        self, ctx: Context, number: int, percent: int, note: str | None, net: NetworkRow
    ) -> None:
        goal = next((g for g in goals_of(self.db, net.id) if g.number == number), None)
        if goal is None:
            await ctx.reply("sustain.goal.unknown", number=number, network=net.name)
            return
        note = shorten(" ".join(note.split()), MAX_TEXT) if note else None
        reached = percent == 100 and goal.reached_at is None
        milestone = self._new_milestone(goal, percent)
        with self.app.store.transaction() as db:
            progress = {
                "goal_id": goal.id,
                "percent": percent,
                "note": note,
                "updated_by": ctx.sender,
                "updated_at": self.now(),
            }
            db.table("goal_updates").insert(progress)
            db.execute(
                "UPDATE goals SET percent = ?, reached_at = CASE WHEN ? = 100"
                " THEN COALESCE(reached_at, ?) END WHERE id = ?",
                [percent, percent, self.now(), goal.id],
            )
        await ctx.reply(
            "sustain.goal.updated", number=number, goal=goal.text, percent=percent, network=net.name
        )
        if reached:
            await self._announce(net, goal, note, txn=f"{ctx.event_id}/reached")
        elif milestone:
            text = self.t(
                net.language,
                "sustain.goal.milestone",
                number=goal.number,
                goal=goal.text,
                milestone=milestone,
                percent=percent,
            )
            await self._announce(net, goal, note, txn=f"{ctx.event_id}/milestone", text=text)

    def _new_milestone(self, goal: Goal, percent: int) -> int | None:
        """The highest milestone this update passes for the first time, if any."""
        (before,) = self.db.execute(
            "SELECT MAX(percent) FROM goal_updates WHERE goal_id = ?", [goal.id]
        ).fetchone()
        passed = [m for m in MILESTONES if (before or 0) < m <= percent]
        return passed[-1] if passed else None

    async def _announce(
        self, net: Any, goal: Goal, note: str | None, *, txn: str, text: Text | None = None
    ) -> None:
        """Post a goal's news in the announcements room: reached, unless `text` says else."""
        reached = self.t(net.language, "sustain.goal.reached", number=goal.number, goal=goal.text)
        lines = [text or reached]
        if note:
            lines.append(Text.plain(note))
        with contextlib.suppress(SendError):  # logged by the send; the goal's news stands
            await self.network_service.post(net, ANNOUNCEMENTS, Text.join(lines), txn=txn)

    @command("goals", options=[NETWORK], role=Role.member, network=True, help="sustain.goals.help")
    async def show(self, ctx: Context, net: NetworkRow) -> None:
        goals = goals_of(self.db, net.id)
        if not goals:
            await ctx.reply("sustain.goals.none", network=net.name, prefix=self.prefix)
            return
        today = self.app.clock.now().date()
        lines = [self.goal_line(ctx.language, goal, today) for goal in goals]
        title = ctx.t("sustain.goals.title", network=net.name)
        await ctx.reply(Text.join([title, Text.bullets(lines)]))

    def goal_line(self, language: str, goal: Goal, today: date) -> Text:
        if goal.reached_at:
            state = self.t(language, "sustain.goals.reached", date=day(goal.reached_at, language))
        elif goal.overdue(today):
            due = day_text(date.fromisoformat(goal.due or ""), language)
            state = self.t(language, "sustain.goals.overdue", due=due)
        elif goal.due:
            due = day_text(date.fromisoformat(goal.due), language)
            state = self.t(language, "sustain.goals.due", due=due)
        else:
            state = Text.plain("")
        line = self.t(
            language,
            "sustain.goals.line",
            number=goal.number,
            goal=goal.text,
            bar=progress_bar(goal.percent),
            percent=goal.percent,
            state=state,
        )
        if goal.note:
            line = Text.join([line, Text.plain(f"“{shorten(goal.note, 120)}”")], " ")
        return line

    # --- personal data -----------------------------------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        added = self.db.execute(
            "SELECT n.name, g.number, g.text FROM goals g JOIN networks n ON n.id = g.network_id"
            " WHERE g.created_by = ?",
            [user_id],
        ).fetchall()
        updates = self.db.execute(
            "SELECT n.name, g.number, u.percent, u.note FROM goal_updates u"
            " JOIN goals g ON g.id = u.goal_id JOIN networks n ON n.id = g.network_id"
            " WHERE u.updated_by = ?",
            [user_id],
        ).fetchall()
        found: dict[str, Any] = {}
        if added:
            found["goals_added"] = [f"{net} #{number}: {text}" for net, number, text in added]
        if updates:
            found["goal_updates"] = [
                f"{net} #{number}: {value}%" + (f" ({note})" if note else "")
                for net, number, value, note in updates
            ]
        return found

    async def forget_person(self, user_id: str) -> None:
        """Goals belong to the network: only who added or updated them is forgotten."""
        with self.app.store.transaction() as db:
            db.execute("UPDATE goals SET created_by = NULL WHERE created_by = ?", [user_id])
            db.execute("UPDATE goal_updates SET updated_by = NULL WHERE updated_by = ?", [user_id])
