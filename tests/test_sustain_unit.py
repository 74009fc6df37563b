"""The sustaining bots' pure parts: buddy ranking, the iCalendar writer, the self-check
questions and answers, time parsing and the digest's weekly slot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
import yaml

from bots.checkin.schema import migrations as checkin_migrations
from bots.network.schema import Member, NetworkStore
from bots.network.schema import migrations as network_migrations
from bots.resources.schema import resource_migrations
from bots.sustain import elsewhere, ical
from bots.sustain.buddies import languages_of, rank
from bots.sustain.digest import next_slot
from bots.sustain.events import clock_time, duration, zone
from bots.sustain.goals import percent, progress_bar
from bots.sustain.selfcheck import ANSWER, QUESTIONS_FILE, load_questions, parse_questions
from core.storage import open_store


def mentor(user: str, languages: str, region: str, joined: float = 0) -> Member:
    return Member(1, user, "mentor-experienced", "joined", languages=languages, region=region,
                  joined_at=joined)  # fmt: skip


def test_buddy_criteria_in_order_language_region_load() -> None:
    region_only = mentor("@region:x", "en", "Hamburg")
    language_only = mentor("@language:x", "de, tr", "Berlin")
    both_busy = mentor("@both-busy:x", "de", "hamburg ")
    both_free = mentor("@both-free:x", "DE", "Hamburg", joined=5)
    both_free_newer = mentor("@both-newer:x", "de", "Hamburg", joined=9)
    everyone = [region_only, language_only, both_busy, both_free, both_free_newer]
    load = {"@both-busy:x": 2, "@both-newer:x": 0}

    ranked = rank(["de"], "Hamburg", everyone, load)
    assert [m.mentor.user_id for m in ranked] == [
        "@both-free:x",  # language and region, no buddies, longest in the network
        "@both-newer:x",
        "@both-busy:x",  # region before load: still ahead of the language-only match
        "@language:x",  # language before region
        "@region:x",
    ]
    assert ranked[0].shared == ["de"] and ranked[0].same_region and ranked[0].buddies == 0
    assert rank(["tr"], "Hamburg", everyone, load)[0].mentor is language_only
    assert rank([], None, [region_only], {})[0].shared == []


def test_languages_from_free_text() -> None:
    assert languages_of("de, TR; en/fr  ar") == ["de", "tr", "en", "fr", "ar"]
    assert languages_of("Deutsch") == ["de"]  # the first two letters, as onboarding does
    assert languages_of(None) == [] and languages_of("de, de") == ["de"]


def test_ical_escapes_folds_and_uses_utc() -> None:
    start = datetime(2027, 1, 14, 17, 0, tzinfo=UTC)
    event = ical.VEvent(
        uid="event-1-1@example.org",
        start=start,
        end=start.replace(hour=19),
        summary="Plenary; budget, goals\\plans\nsecond line",
        stamp=start,
        location="Café Grünschnabel, Hamburg " + "ü" * 60,
        url="https://meet.example.org/x",
        categories=["plenary meeting"],
    )
    text = ical.calendar("Hamburg, Mentors", [event])
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert text.endswith("END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")  # only CRLF line ends
    assert "X-WR-CALNAME:Hamburg\\, Mentors\r\n" in text
    assert "SUMMARY:Plenary\\; budget\\, goals\\\\plans\\nsecond line\r\n" in text
    assert "DTSTART:20270114T170000Z\r\nDTEND:20270114T190000Z\r\n" in text
    lines = text.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = text.replace("\r\n ", "")
    assert "LOCATION:Café Grünschnabel\\, Hamburg " + "ü" * 60 + "\r\n" in unfolded
    assert "STATUS:CONFIRMED" in text and "CATEGORIES:plenary meeting" in text
    cancelled = ical.calendar("x", [ical.VEvent("u", start, start, "s", start, cancelled=True)])
    assert "STATUS:CANCELLED" in cancelled


def test_fold_never_splits_a_character() -> None:
    folded = ical.fold("DESCRIPTION:" + "€" * 100)
    for line in folded.split("\r\n"):
        line.encode().decode()  # each piece is valid UTF-8
        assert len(line.encode()) <= 75
    assert folded.replace("\r\n ", "") == "DESCRIPTION:" + "€" * 100


def test_default_selfcheck_covers_the_quality_criteria_in_every_language() -> None:
    questions = load_questions(QUESTIONS_FILE)
    areas = {"recruitment", "training", "matching", "support", "closure", "evaluation",
             "governance"}  # fmt: skip
    assert set(questions.areas) == areas
    assert {q.area for q in questions.questions} == areas
    assert all(set(q.text) == {"en", "de", "fr", "nl"} for q in questions.questions)


def test_selfcheck_file_mistakes_are_named(tmp_path: Path) -> None:
    data = yaml.safe_load(QUESTIONS_FILE.read_text(encoding="utf-8"))
    data["questions"][0].pop("de")
    with pytest.raises(ValueError, match=r"recruitment\.profile.* lacks de"):
        parse_questions(data)
    data = yaml.safe_load(QUESTIONS_FILE.read_text(encoding="utf-8"))
    data["questions"][1]["id"] = data["questions"][0]["id"]
    with pytest.raises(ValueError, match="used twice"):
        parse_questions(data)


@pytest.mark.parametrize(
    ("typed", "score", "comment"),
    [
        ("4", "4", ""),
        ("3 we train, but not everyone", "3", "we train, but not everyone"),
        ("5/5 – yes", "5", "yes"),
        ("2: not yet", "2", "not yet"),
    ],
)
def test_selfcheck_answers(typed: str, score: str, comment: str) -> None:
    match = ANSWER.match(typed)
    assert match is not None and (match[1], match[2]) == (score, comment)


@pytest.mark.parametrize("typed", ["6", "45", "0", "good", ""])
def test_selfcheck_non_answers(typed: str) -> None:
    assert ANSWER.match(typed) is None


def test_times_and_numbers() -> None:
    assert clock_time("18:00") == time(18) and clock_time("9.30") == time(9, 30)
    assert duration("90m") == 90 and duration("2h") == 120 and duration("1h30") == 90
    assert zone("Europe/Brussels") == "Europe/Brussels"
    assert percent("60%") == 60
    for bad, parse in [("25:00", clock_time), ("3d", duration), ("Mars/Base", zone),
                       ("101", percent)]:  # fmt: skip
        with pytest.raises(ValueError):
            parse(bad)
    assert progress_bar(60) == "▰▰▰▰▰▰▱▱▱▱"


def test_digest_comes_on_monday_morning() -> None:
    wednesday = datetime(2027, 1, 13, 12, 0, tzinfo=UTC)
    assert next_slot(wednesday) == datetime(2027, 1, 18, 7, 0, tzinfo=UTC)
    monday_early = datetime(2027, 1, 18, 6, 0, tzinfo=UTC)
    assert next_slot(monday_early) == datetime(2027, 1, 18, 7, 0, tzinfo=UTC)
    monday_on_time = datetime(2027, 1, 18, 7, 0, tzinfo=UTC)
    assert next_slot(monday_on_time) == datetime(2027, 1, 25, 7, 0, tzinfo=UTC)


def test_figures_from_the_checkin_and_resource_tables(tmp_path: Path) -> None:
    """Figures asked of the check-in and resource bots' stores, against their real schemas."""
    store = open_store(tmp_path / "m.db")
    db = store.db
    store.migrate(network_migrations)
    db.execute(
        "INSERT INTO networks (id, name, name_key, language, created_at)"
        " VALUES (1, 'N', 'n', 'en', 0)"
    )
    db.execute("INSERT INTO network_rooms VALUES (1, 'general', '!general:x')")
    net = NetworkStore(store).get(1)
    assert net is not None
    assert elsewhere.checkin_responses(store, net, 0, 100) is None  # no check-in bot: no figures
    assert elsewhere.new_resources(store, net, 0, 100) is None
    for migrations in (checkin_migrations, resource_migrations):
        store.migrate(migrations)
    db.execute(
        "INSERT INTO checkin_rounds (id, network_id, slot, kind, due_at, questions, remind_after,"
        " close_after) VALUES (1, 1, '2027-W01', 'scheduled', 10, '[]', 1, 1)"
    )
    for user, sent in (("@a:x", 10), ("@b:x", 10), ("@c:x", None)):
        db.execute(
            "INSERT INTO checkin_deliveries (round_id, user_id, state, due_at, sent_at)"
            " VALUES (1, ?, 'sent', 10, ?)",
            [user, sent],
        )
    db.execute(
        "INSERT INTO checkin_answers (round_id, user_id, question_id, source, event_id,"
        " answered_at) VALUES (1, '@a:x', 1, 'dm', '$e', 20)"
    )
    for room, created in (("!general:x", 50), ("!elsewhere:x", 50), ("!general:x", 500)):
        db.execute(
            "INSERT INTO resources (title, room_id, event_id, created_at) VALUES ('t', ?, '$r', ?)",
            [room, created],
        )
    assert elsewhere.checkin_responses(store, net, 0, 100) == (2, 1)  # asked 2, answered 1
    other = replace(net, id=2, rooms={})
    assert elsewhere.checkin_responses(store, other, 0, 100) == (0, 0)
    assert elsewhere.new_resources(store, net, 0, 100) == 1
    store.close()
