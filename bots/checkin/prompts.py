"""What a member receives: the round's introduction, the mood question as a Matrix poll
(MSC3381, as today's clients send and render it, with a text fallback), one message per
free-text question, the reminder, and the poll's end when the round closes."""

from __future__ import annotations

from typing import Any

from bots.checkin.questions import MOOD, SCALE, Question
from core.i18n import Catalog
from core.text import Text

POLL_START = "org.matrix.msc3381.poll.start"
POLL_ENDS = {POLL_START: "org.matrix.msc3381.poll.end", "m.poll.start": "m.poll.end"}
POLL_RESPONSES = ("org.matrix.msc3381.poll.response", "m.poll.response")
POLL_DISCLOSED = "org.matrix.msc3381.poll.disclosed"
MESSAGE = "m.room.message"


def poll(question: str, labels: list[str], hint: str) -> dict[str, Any]:
    """An `org.matrix.msc3381.poll.start` content with answers "1"…"5" and a text fallback
    (`org.matrix.msc1767.text`, `m.text`, `body`) for clients that show no polls."""
    options = [f"{n}. {label}" for n, label in zip(SCALE, labels, strict=True)]
    fallback = "\n".join([question, *options, hint])
    return {
        POLL_START: {
            "kind": POLL_DISCLOSED,
            "max_selections": 1,
            "question": {
                "org.matrix.msc1767.text": question,
                "body": question,
                "msgtype": "m.text",
            },
            "answers": [
                {"id": str(n), "org.matrix.msc1767.text": label}
                for n, label in zip(SCALE, labels, strict=True)
            ],
        },
        "org.matrix.msc1767.text": fallback,
        "m.text": [{"body": fallback}],
        "body": fallback,
    }


def poll_end(start_type: str, poll_id: str, text: str) -> tuple[str, dict[str, Any]]:
    """(event type, content) ending the poll `poll_id`, in the namespace it was started in,
    with a text fallback. Clients then show the poll as ended and count no later votes."""
    relation = {"rel_type": "m.reference", "event_id": poll_id}
    end_type = POLL_ENDS[start_type]
    if end_type == "m.poll.end":
        return end_type, {"m.relates_to": relation, "m.text": [{"body": text}], "body": text}
    content = {
        "m.relates_to": relation,
        end_type: {},
        "org.matrix.msc1767.text": text,
        "body": text,
    }
    return end_type, content


def question_event(
    catalog: Catalog, question: Question, number: int, count: int, language: str, fallback: str
) -> tuple[str, dict[str, Any]]:
    """(event type, content) asking one question."""
    text = question.text(catalog, language, fallback)
    if question.kind == MOOD:
        labels = [catalog.template(language, f"checkin.mood.{n}") for n in SCALE]
        hint = catalog.template(language, "checkin.dm.poll_hint")
        return POLL_START, poll(f"{number}/{count} {text}", labels, hint)
    rendered = catalog.text(
        language, "checkin.dm.question", number=number, count=count, question=Text.plain(text)
    )
    return MESSAGE, rendered.content("m.notice")


def selections(content: dict[str, Any]) -> list[str]:
    """The answer ids a poll response picks (unstable and stable forms)."""
    unstable = content.get("org.matrix.msc3381.poll.response") or {}
    stable = content.get("m.poll.response") or {}
    for found in (unstable.get("answers"), stable.get("answers"), content.get("m.selections")):
        if isinstance(found, list):
            return [str(item) for item in found]
    return []
