"""Answers as they arrive in a member's direct chat: poll votes (unstable and stable), 1️⃣–5️⃣
reactions, replies to a question, plain messages while a round is open, and edits of any of
them. Each event reaches us once (the runtime's durable inbox); an answer is stored at once,
and a low mood or a call for help is passed on straight away.

Until a round closes an answer can be changed (an edit, a different vote). After it closes,
answers already given stay as the summary showed them; a first answer still counts, marked
late, and a late answer can still be changed. The exception is a vote in a poll we ended
when the round closed: clients count it nowhere, and neither do we.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bots.checkin.prompts import POLL_RESPONSES, selections
from bots.checkin.questions import (
    LOW_MOOD,
    MOOD,
    TEXT,
    Question,
    calls_for_help,
    help_words,
    mood_from_key,
    mood_from_text,
)
from bots.checkin.schema import SENT, Answer, Round
from core.account import Incoming
from core.context import Context
from core.text import without_reply_fallback

if TYPE_CHECKING:
    from bots.checkin.bot import Checkin

log = logging.getLogger(__name__)

MAX_ANSWER = 4_000  # characters kept of a free-text answer


def _relation(content: dict[str, Any]) -> dict[str, Any]:
    relation = content.get("m.relates_to")
    return relation if isinstance(relation, dict) else {}


class Answers:
    def __init__(self, bot: Checkin) -> None:
        self.bot = bot
        self.data = bot.data

    def wants(self, incoming: Incoming) -> bool:
        kind = incoming.event.get("type")
        if kind == "m.room.message":
            return incoming.content.get("msgtype") in ("m.text", "m.emote", None)
        return kind in POLL_RESPONSES or kind == "m.reaction"

    async def handle(self, ctx: Context) -> None:
        event, content = ctx.incoming.event, ctx.incoming.content
        relation = _relation(content)
        kind = event.get("type")
        if kind in POLL_RESPONSES:
            picked = selections(content)
            mood = mood_from_key(picked[0]) if picked else None
            await self._vote(ctx, relation.get("event_id"), mood, "poll")
        elif kind == "m.reaction" and relation.get("rel_type") == "m.annotation":
            await self._vote(
                ctx, relation.get("event_id"), mood_from_key(relation.get("key", "")), "reaction"
            )
        elif kind == "m.room.message":
            await self._message(ctx, content, relation)

    async def _message(self, ctx: Context, content: dict[str, Any], relation: dict) -> None:
        if relation.get("rel_type") == "m.replace":
            new = content.get("m.new_content") or {}
            await self._edit(ctx, relation.get("event_id"), _body(new))
            return
        body = _body(content)
        if not body:
            return
        target = (relation.get("m.in_reply_to") or {}).get("event_id")
        prompt = self.data.prompt(target) if target else None
        if prompt is not None and prompt[2] is not None:
            await self._reply(ctx, prompt, body)
        else:
            await self._plain(ctx, body)

    # --- what the event answers --------------------------------------------------------------

    def _question(self, round_: Round, question_id: int) -> Question | None:
        return next((q for q in round_.question_list() if q.id == question_id), None)

    async def _vote(self, ctx: Context, target: str | None, mood: int | None, source: str) -> None:
        prompt = self.data.prompt(target) if target else None
        if prompt is None or mood is None or prompt[1] != ctx.sender or prompt[2] is None:
            return
        if source == "poll" and self._after_end(ctx, target):
            return  # clients show the poll as ended and count this vote nowhere: neither do we
        round_ = self.data.round(prompt[0])
        question = self._question(round_, prompt[2]) if round_ else None
        if round_ and question and question.kind == MOOD:
            await self._store(ctx, round_, question, mood=mood, text=None, source=source)

    def _after_end(self, ctx: Context, poll_id: str | None) -> bool:
        """Whether a poll response was sent after we ended the poll (MSC3381: it does not
        count). A reaction or a reply after the close is still taken as a late answer."""
        ended = self.data.poll_end(poll_id) if poll_id else None
        if ended is None:
            return False
        sent = ctx.incoming.event.get("origin_server_ts")
        return not isinstance(sent, int) or sent >= ended * 1000

    async def _reply(self, ctx: Context, prompt: tuple[int, str, int | None], body: str) -> None:
        round_ = self.data.round(prompt[0])
        if round_ is None or prompt[1] != ctx.sender or prompt[2] is None:
            return
        question = self._question(round_, prompt[2])
        if question is None:
            return
        if question.kind == MOOD:
            mood = mood_from_text(body)
            if mood is not None:
                await self._store(ctx, round_, question, mood=mood, text=None, source="reply")
            return
        await self._store(ctx, round_, question, mood=None, text=body, source="reply")

    async def _plain(self, ctx: Context, body: str) -> None:
        """A message that replies to nothing answers the first open question of the round the
        person is answering in this chat (a number 1–5 the mood question)."""
        for delivery in self.data.open_deliveries(ctx.sender):
            if delivery.state != SENT or delivery.room_id != ctx.room_id:
                continue
            round_ = self.data.round(delivery.round_id)
            if round_ is None:
                continue
            answered = self.data.answered_questions(round_.id, ctx.sender)
            open_questions = [q for q in round_.question_list() if q.id not in answered]
            mood = mood_from_text(body)
            for question in open_questions:
                if question.kind == MOOD and mood is not None:
                    await self._store(ctx, round_, question, mood=mood, text=None, source="message")
                    return
                if question.kind == TEXT and mood is None:
                    await self._store(ctx, round_, question, mood=None, text=body, source="message")
                    return

    async def _edit(self, ctx: Context, original: str | None, body: str) -> None:
        answer = self.data.answer_by_event(original) if original else None
        if answer is None or answer.user_id != ctx.sender or not body:
            return
        round_ = self.data.round(answer.round_id)
        question = self._question(round_, answer.question_id) if round_ else None
        if round_ is None or question is None:
            return
        mood = mood_from_text(body) if question.kind == MOOD else None
        if question.kind == MOOD and mood is None:
            return
        text = None if question.kind == MOOD else body
        await self._store(
            ctx,
            round_,
            question,
            mood=mood,
            text=text,
            source=answer.source,
            event_id=answer.event_id,
        )

    # --- storing -----------------------------------------------------------------------------

    async def _store(
        self,
        ctx: Context,
        round_: Round,
        question: Question,
        *,
        mood: int | None,
        text: str | None,
        source: str,
        event_id: str | None = None,
    ) -> None:
        now = self.bot.now().timestamp()
        existing = self.data.answer(round_.id, ctx.sender, question.id)
        closed = round_.closed_at is not None
        if existing is not None and closed and not existing.late:
            await ctx.reply("checkin.dm.closed_unchanged")
            return
        text = text[:MAX_ANSWER] if text is not None else None
        if existing is None:
            answer = Answer(
                round_.id,
                ctx.sender,
                question.id,
                mood,
                text,
                source,
                event_id or ctx.event_id,
                now,
                None,
                0,
                int(closed),
            )
        else:
            answer = replace(
                existing,
                mood=mood,
                text=text,
                source=source,
                event_id=event_id or ctx.event_id,
                edited_at=now,
                edits=existing.edits + 1,
            )
        self.data.save_answer(answer)
        self.bot.networks.touch(round_.network_id, ctx.sender, now)
        log.info("answer stored", extra={"round": round_.id, "question": question.id})
        await self._care(ctx, round_, question, answer)
        if existing is None and not closed:
            await self._thank_when_complete(ctx, round_)

    async def _thank_when_complete(self, ctx: Context, round_: Round) -> None:
        answered = self.data.answered_questions(round_.id, ctx.sender)
        if answered >= {q.id for q in round_.question_list()}:
            await ctx.reply("checkin.dm.thanks")

    async def _care(self, ctx: Context, round_: Round, question: Question, answer: Answer) -> None:
        """Pass a low mood or a call for help on to the Meta-Mentors now, once per answer."""
        reason = None
        if question.kind == MOOD and answer.mood is not None and answer.mood <= LOW_MOOD:
            reason = "mood"
        elif question.kind == TEXT and answer.text:
            words = help_words(self.data.settings(round_.network_id).help_words)
            if calls_for_help(answer.text, words):
                reason = "help"
        if reason is None or self.data.has_alert(answer):
            return
        if await self.bot.alert(round_, question, answer, reason):
            self.data.add_alert(answer, reason, self.bot.now().timestamp())
            await ctx.reply("checkin.dm.passed_on")


def _body(content: dict[str, Any]) -> str:
    body = content.get("body")
    if not isinstance(body, str):
        return ""
    return without_reply_fallback(body).strip()
