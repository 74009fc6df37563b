"""The check-in bot's pure parts: schedule rules and their next occurrences across time
zones and DST, durations and dates, reading answers, streaks, drift and the chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bots.checkin import schema
from bots.checkin.chart import Labels, render
from bots.checkin.prompts import poll, poll_end, selections
from bots.checkin.questions import (
    Question,
    calls_for_help,
    help_words,
    mood_from_key,
    mood_from_text,
    snapshot,
)
from bots.checkin.rules import RuleError, parse_date, parse_duration, parse_rule, zone
from bots.checkin.schema import Answer, Delivery, Round
from bots.checkin.stats import NO_ANSWER, NOT_ASKED, RoundStat, Stats, drift
from bots.checkin.summary import RoundFacts, rate_line, silent_streaks
from core.i18n import default_catalog
from core.storage import Store

BERLIN, NEW_YORK, TOKYO = (
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Tokyo"),
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("mon 09:00", "mon 09:00"),
        ("Monday 9:00", "mon 09:00"),
        ("mon, thu 18:30", "mon,thu 18:30"),
        ("every 2 weeks on thu 18:30", "every 2 weeks on thu 18:30"),
        ("weekly on fri 5pm", "fri 17:00"),
        ("monthly on 1 10:00", "monthly on 1 10:00"),
        ("monthly on the last day 10:00", "monthly on last 10:00"),
        ("daily 08:30", "daily 08:30"),
        ("alle 2 Wochen am Do 18:30 Uhr", "every 2 weeks on thu 18:30"),
        ("jeden Montag 9.00", "mon 09:00"),
        ("monatlich am 1. 10:00", "monthly on 1 10:00"),
        ("jeden Montag 18:00", "mon 18:00"),
        ("every monday 18:00", "mon 18:00"),
        ("every month on the 1st 10:00", "monthly on 1 10:00"),
        ("tous les lundis 18:00", "mon 18:00"),
        ("toutes les 2 semaines le jeudi 18h30", "every 2 weeks on thu 18:30"),
        ("lundi et jeudi à 18h", "mon,thu 18:00"),
        ("tous les mois le dernier jour 10:00", "monthly on last 10:00"),
        ("tous les jours 08:30", "daily 08:30"),
        ("elke maandag 18:00", "mon 18:00"),
        ("om de 2 weken op donderdag 18:30", "every 2 weeks on thu 18:30"),
        ("maandelijks op 1 10:00", "monthly on 1 10:00"),
        ("dagelijks om 8:30", "daily 08:30"),
    ],
)
def test_rules_read_english_german_french_and_dutch(text: str, canonical: str) -> None:
    rule = parse_rule(text)
    assert rule.text == canonical
    assert parse_rule(rule.text) == rule


@pytest.mark.parametrize(
    "text",
    ["", "mon", "09:00 funday", "monthly on 32 10:00", "every 20 weeks on mon 9:00", "25:00"],
)
def test_rules_refuse_what_they_cannot_read(text: str) -> None:
    with pytest.raises(RuleError):
        parse_rule(text)


def test_a_refused_rule_says_what_it_expected_in_the_readers_language() -> None:
    with pytest.raises(RuleError) as refused:
        parse_rule("funday 18:00")
    assert str(refused.value) == "a weekday like mon or thu (not “funday”)"
    assert refused.value.text("fr") == "un jour de la semaine comme lundi ou jeu (pas « funday »)"
    assert refused.value.text("nl").startswith("een weekdag zoals maandag")


def test_weekly_slots_and_each_zone_gets_it_at_its_own_nine() -> None:
    rule = parse_rule("mon 09:00")
    now = datetime(2030, 6, 3, 5, 0, tzinfo=UTC)  # Monday, 07:00 in Berlin
    slot = rule.first_slot(BERLIN, [BERLIN, NEW_YORK], now)
    assert slot == date(2030, 6, 3)
    assert rule.due(slot, BERLIN) == datetime(2030, 6, 3, 7, 0, tzinfo=UTC)
    assert rule.due(slot, NEW_YORK) == datetime(2030, 6, 3, 13, 0, tzinfo=UTC)
    assert rule.next_slot(slot, BERLIN) == date(2030, 6, 10)
    # Tokyo's 09:00 of that Monday is already past: the first slot is the next week's.
    assert rule.first_slot(BERLIN, [BERLIN, TOKYO], now) == date(2030, 6, 10)


def test_every_two_weeks_counts_from_its_anchor_and_monthly_skips_short_months() -> None:
    rule = parse_rule("every 2 weeks on thu 18:30")
    now = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)
    first = rule.first_slot(BERLIN, [BERLIN], now)
    anchored = rule.with_anchor(first)
    slots = [first]
    for _ in range(3):
        slots.append(anchored.next_slot(slots[-1], BERLIN))
    assert [s.isoformat() for s in slots] == [
        "2030-06-06",
        "2030-06-20",
        "2030-07-04",
        "2030-07-18",
    ]
    monthly = parse_rule("monthly on 31 10:00")
    assert monthly.next_slot(date(2030, 1, 31), BERLIN) == date(2030, 3, 31)


def test_daylight_saving_keeps_the_local_time() -> None:
    rule = parse_rule("sun 09:00")
    before = rule.due(date(2030, 3, 24), BERLIN)  # CET
    after = rule.due(date(2030, 3, 31), BERLIN)  # CEST
    assert (
        after.timestamp() - before.timestamp()
        == (timedelta(days=7) - timedelta(hours=1)).total_seconds()
    )
    assert after.astimezone(BERLIN).time() == time(9, 0)


def test_durations_dates_and_zones() -> None:
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("1d12h") == timedelta(hours=36)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("3 tage") == timedelta(days=3)
    assert parse_duration("6") == timedelta(hours=6)
    for bad in ("", "soon", "0h", "2h later"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_date("until 2026-12-31") == date(2026, 12, 31)
    assert parse_date("bis 31.12.2026") == date(2026, 12, 31)
    with pytest.raises(ValueError):
        parse_date("next week")
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValueError):
            zone(bad)


def test_reading_moods_and_calls_for_help() -> None:
    assert [mood_from_key(k) for k in ("1️⃣", "5\u20e3", "3", "👍", "6")] == [1, 5, 3, None, None]
    assert [mood_from_text(t) for t in ("4", " 2/5 ", "4.", "about 4", "10")] == [
        4,
        2,
        4,
        None,
        None,
    ]
    words = help_words(None)
    assert calls_for_help("I need help with the Jobcenter letter", words) == "help"
    assert calls_for_help("Ich brauche dringend Hilfe!", words) in ("hilfe", "dringend")
    assert calls_for_help("No help needed, thanks", words) is None
    assert calls_for_help("Alles gut, keine Hilfe nötig", words) is None
    assert calls_for_help("I don't need help", words) is None
    assert calls_for_help("That workshop was helpful", words) is None
    custom = help_words("Unterstützung, call me")
    assert calls_for_help("please call me tomorrow", custom) == "call me"


def test_poll_content_and_both_response_forms() -> None:
    content = poll("How are you?", [f"{n}" for n in range(1, 6)], "(react 1️⃣–5️⃣)")
    start = content["org.matrix.msc3381.poll.start"]
    assert [a["id"] for a in start["answers"]] == ["1", "2", "3", "4", "5"]
    assert start["max_selections"] == 1
    assert content["org.matrix.msc1767.text"].startswith("How are you?\n1. 1")
    assert content["m.text"][0]["body"] == content["body"]
    assert selections({"org.matrix.msc3381.poll.response": {"answers": ["4"]}}) == ["4"]
    assert selections({"m.selections": ["2"]}) == ["2"]
    assert selections({}) == []


def test_a_poll_is_ended_in_the_namespace_it_was_started_in() -> None:
    kind, content = poll_end("org.matrix.msc3381.poll.start", "$poll", "Closed.")
    assert kind == "org.matrix.msc3381.poll.end"
    assert content["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$poll"}
    assert content["org.matrix.msc3381.poll.end"] == {}
    assert content["org.matrix.msc1767.text"] == content["body"] == "Closed."
    kind, content = poll_end("m.poll.start", "$poll", "Closed.")
    assert kind == "m.poll.end" and content["m.text"] == [{"body": "Closed."}]
    assert content["m.relates_to"]["event_id"] == "$poll"


def test_the_poll_end_step_marks_polls_of_closed_rounds_as_dealt_with(tmp_path: Path) -> None:
    store = Store(tmp_path / "old.db")
    store.migrate(schema.migrations.first(1))
    questions = snapshot([Question(1, "mood", "mood", {}), Question(2, "text", "well", {})])
    for round_id, closed in ((1, 100.0), (2, None)):
        store.db.execute(
            "INSERT INTO checkin_rounds (id, network_id, slot, kind, due_at, questions,"
            " remind_after, close_after, closed_at) VALUES (?, 1, ?, 'manual', 0, ?, 1, 2, ?)",
            [round_id, f"s{round_id}", questions, closed],
        )
        for part, question in (("intro", None), ("q1", 1), ("q2", 2)):
            store.db.execute(
                "INSERT INTO checkin_prompts (event_id, round_id, user_id, part, question_id,"
                " room_id) VALUES (?, ?, '@a:x', ?, ?, '!dm:x')",
                [f"${round_id}{part}", round_id, part, question],
            )
    store.migrate(schema.migrations)
    rows = store.db.execute(
        "SELECT event_id, event_type, ended_at, end_event_id FROM checkin_prompts ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("$1intro", "m.room.message", None, None),
        ("$1q1", "org.matrix.msc3381.poll.start", 100.0, None),  # no end sent for old rounds
        ("$1q2", "m.room.message", None, None),
        ("$2intro", "m.room.message", None, None),
        ("$2q1", "org.matrix.msc3381.poll.start", None, None),  # ended when round 2 closes
        ("$2q2", "m.room.message", None, None),
    ]
    data = schema.CheckinStore(store)
    assert data.polls_to_end() == []
    data.close(2, 200.0)
    assert [poll.event_id for poll in data.polls_to_end()] == ["$2q1"]
    data.poll_ended("$2q1", "$end", 1234.5)
    assert data.polls_to_end() == [] and data.poll_end("$2q1") == 1234.5
    assert data.poll_end("$1q1") is None  # not ended by us: a vote still counts, late


def test_silent_streaks_ignore_holidays_and_end_at_an_answer_or_skip() -> None:
    history = [  # (round, user, state, answered), newest first
        (5, "@a", "sent", 0), (4, "@a", "paused", 0), (3, "@a", "sent", 0), (2, "@a", "sent", 1),
        (5, "@b", "sent", 0), (4, "@b", "skipped", 0), (3, "@b", "sent", 0),
        (5, "@c", "sent", 1),
    ]  # fmt: skip
    assert silent_streaks(history) == {"@a": 2, "@b": 1, "@c": 0}


def test_drift_and_the_chart() -> None:
    assert drift([4, NO_ANSWER, NO_ANSWER]) == ("silent", 2, 0)
    assert drift([5, 4, NOT_ASKED, 2]) == ("mood", 4, 2)
    assert drift([5, 2]) == ("mood", 5, 2)
    assert drift([3, 4, 4]) is None
    assert drift([1]) == ("low", 1, 1)  # one answer is no drift: no "mood 1 → 1"
    assert drift([2, 2]) == ("low", 2, 2)
    assert drift([5, 2, 2]) == ("mood", 5, 2)
    assert drift([4, 2]) == ("mood", 4, 2)
    stats = Stats(rounds=[])
    for index in range(3):
        stats.rounds.append(RoundStat(round=None, asked=3, answered=2, late=0, mood=3.0 + index))  # type: ignore[arg-type]
    stats.cells = {"@ann:x": [4, 4, 2], "@bob:x": [3, NO_ANSWER, NO_ANSWER], "@cem:x": [5, 5, 5]}
    stats.drifting = {u: r for u, row in stats.cells.items() if (r := drift(row))}
    labels = Labels("Check-ins", "Answered (%)", "Mood", "Mood by member", "no answer",
                    ["1 Jun", "8 Jun", "15 Jun"])  # fmt: skip
    png, width, height = render(stats, labels)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert (
        int.from_bytes(png[16:20], "big") == width and int.from_bytes(png[20:24], "big") == height
    )
    assert set(stats.drifting) == {"@ann:x", "@bob:x"}
    assert datetime.now(UTC)  # the chart needs no clock


def test_the_summary_line_names_only_the_counts_there_are_in_their_plural_forms() -> None:
    """1 skip and 2 late answers, nobody on holiday: no "on holiday: 0", plural verbs."""
    round_ = Round(1, 1, "", "manual", 0, 0, "[]", 3600, 7200, 0, 0, 1, None, None, None)
    states = {"@a:x": "sent", "@b:x": "sent", "@c:x": "sent", "@d:x": "sent", "@e:x": "skipped"}
    deliveries = [
        Delivery(1, user, state, 0, 0, None, None, None) for user, state in states.items()
    ]
    answers = [
        Answer(1, user, 1, 4, None, "poll", f"${user}", 0, None, 0, late)
        for user, late in (("@a:x", 0), ("@b:x", 1), ("@c:x", 1))
    ]
    facts = RoundFacts(round_, [], deliveries, answers)
    catalog = default_catalog()

    def line(language: str) -> str:
        return rate_line(lambda *a, **v: catalog.text(language, *a, **v), facts, language).body

    assert line("en") == "**Answered:** 1 of 4 (25 %) · 1 skipped and 2 answered late"
    assert line("de") == (
        "**Beantwortet:** 1 von 4 (25 %) · 1 hat ausgelassen und 2 haben verspätet geantwortet"
    )
    assert line("fr") == (
        "**Réponses :** 1 sur 4 (25 %) · 1 a passé son tour et 2 ont répondu en retard"
    )
