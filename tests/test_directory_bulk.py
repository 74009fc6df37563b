"""A room's entries mirrored in bulk (`Directory.apply_listings`, the first copy of a room)
end up exactly as when mirrored one by one (`apply_listing`): same listings, same
organisations shown (merged where several networks list one) with the same text, filters
and API entities, same refusals."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.storage import open_store
from directory.hsds import RecordError, to_published, validate
from directory.store import Directory, Provenance

ROOM_A, ROOM_B = "!dir-a:a.example", "!dir-b:b.example"
Listing = tuple[str, dict[str, Any], Provenance]
_events = itertools.count(1)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Directory, Directory]]:
    one, bulk = open_store(tmp_path / "one.db"), open_store(tmp_path / "bulk.db")
    yield Directory(one), Directory(bulk)
    one.close()
    bulk.close()


def listing(room: str, record: dict[str, Any] | None, key: str, ts: int) -> Listing:
    server = room.split(":")[1]
    prov = Provenance(f"Network {server}", server, room, f"$e{next(_events)}", f"@d:{server}", ts)
    return key, (to_published(validate(record)) if record else {}), prov


def org(index: int, **changes: Any) -> dict[str, Any]:
    record = {
        "id": f"org-{index}",
        "name": f"Mentoring Verein {index}",
        "description": f"Begleitung für Geflüchtete in München, Gruppe {index}",
        "website": f"https://org{index}.example.de",
        "languages": ["de", "ar"],
        "locations": [{"city": "München" if index % 2 else "Köln", "country": "DE"}],
        "services": [{"name": "Sprachcafé", "target_groups": ["refugees"]}],
    }
    return record | changes


def batches() -> list[tuple[str, list[Listing]]]:
    """New entries, a refusal, a key shared by two rooms and within one room, updates,
    removals, a change of dedupe key, the same key twice in a batch, re-adding."""
    invalid = {"schema_version": 1, "organization": {"name": "Bad", "email": "not an address"}}
    bad_provenance = listing(ROOM_A, None, "bad", 1)[2]
    first = [listing(ROOM_A, org(i), f"org-{i}", 1_000 + i) for i in range(30)]
    first += [("bad", invalid, bad_provenance)]
    first += [listing(ROOM_A, org(99, website="https://org3.example.de"), "org-99", 900)]
    second = [
        listing(ROOM_B, org(5, id="b-5", name="Verein Fünf"), "b-5", 5_000),  # shared, newer
        listing(ROOM_B, org(40, id="b-40"), "b-40", 5_000),
    ]
    third = [listing(ROOM_A, org(i, name=f"Neuer Name {i}"), f"org-{i}", 6_000) for i in range(5)]
    third += [listing(ROOM_A, None, f"org-{i}", 6_000) for i in (10, 11, 12, 77)]
    third += [first[20]]  # unchanged
    third += [listing(ROOM_A, org(21, website="https://elsewhere.example"), "org-21", 6_000)]
    third += [listing(ROOM_A, org(6, name="Zwischenstand"), "org-6", 6_000)]
    third += [listing(ROOM_A, None, "org-6", 6_001)]
    third += [listing(ROOM_A, org(13, name="Zweimal"), "org-13", 6_000)]
    third += [listing(ROOM_A, org(13, name="Zweimal, zuletzt"), "org-13", 6_002)]
    removed_b = [listing(ROOM_B, None, "b-5", 7_000)]
    again = [listing(ROOM_A, org(10, name="Wieder da"), "org-10", 7_000)]
    return [
        (ROOM_A, first),
        (ROOM_B, second),
        (ROOM_A, third),
        (ROOM_B, removed_b),
        (ROOM_A, again),
    ]


def snapshot(directory: Directory) -> dict[str, Any]:
    """Everything a reader of the directory can see, independent of row ids."""
    db = directory.db
    return {
        "listings": sorted(
            db.execute(
                "SELECT room_id, org_id, record, dedupe_key, network, homeserver, event_id,"
                " sender, origin_ts FROM directory_listings"
            ).fetchall()
        ),
        "shown": sorted(
            db.execute(
                "SELECT s.dedupe_key, s.id, s.room_id, s.sort_name, s.record, s.sources, f.name,"
                " f.alternate_name, f.description, f.services, f.service_text, f.places,"
                " f.variants, f.facets FROM directory_shown s JOIN directory_fts f"
                " ON f.rowid = s.rowid"
            ).fetchall()
        ),
        "entities": sorted(
            db.execute(
                "SELECT s.dedupe_key, e.kind, e.position, e.path, e.item_id"
                " FROM directory_entities e JOIN directory_shown s ON s.rowid = e.shown"
            ).fetchall()
        ),
        "fts_rows": db.execute("SELECT count(*) FROM directory_fts").fetchone()[0],
        "name_tier": sorted(
            db.execute(
                "SELECT s.dedupe_key, n.name, n.alternate_name, n.facets FROM directory_shown s"
                " JOIN directory_names n ON n.rowid = s.rowid"
            ).fetchall()
        ),
        "facets": sorted(
            db.execute(
                "SELECT s.dedupe_key, x.facet, x.value FROM directory_facets x"
                " JOIN directory_shown s ON s.rowid = x.shown"
            ).fetchall()
        ),
        "stats": directory.stats(),
        "searches": [
            sorted(item.id for item in directory.search(text, per_page=100).items)
            for text in ("mentoring", "Muenchen", "Fünf", "Zweimal zuletzt", "Neuer")
        ],
    }


def test_bulk_mirroring_matches_one_by_one(stores: tuple[Directory, Directory]) -> None:
    one, bulk = stores
    for room, items in batches():
        refused_one: dict[str, RecordError] = {}
        for key, content, prov in items:
            try:
                one.apply_listing(room, key, content, prov)
            except RecordError as error:
                refused_one[key] = error
        refused_bulk = bulk.apply_listings(room, items)
        assert {k: str(e) for k, e in refused_bulk.items()} == {
            k: str(e) for k, e in refused_one.items()
        }
        assert snapshot(bulk) == snapshot(one)
    shown = bulk.get("org-3")
    assert shown is not None and {s.org_id for s in shown.sources} == {"org-3", "org-99"}
    back = bulk.get("org-5")  # B's newer listing was shown, then removed
    assert back is not None and back.organization.name == "Mentoring Verein 5"
    assert bulk.get("org-6") is None and bulk.get("org-13").organization.name == "Zweimal, zuletzt"


def test_bulk_refuses_a_batch_for_another_room(stores: tuple[Directory, Directory]) -> None:
    _, bulk = stores
    items = [listing(ROOM_A, org(1), "org-1", 1), listing(ROOM_B, org(2), "org-2", 1)]
    with pytest.raises(ValueError):
        bulk.apply_listings(ROOM_A, items)
    assert bulk.stats()["listings"] == 0


def test_dropping_a_room_in_chunks_matches_removing_one_by_one(
    stores: tuple[Directory, Directory],
) -> None:
    one, bulk = stores
    for room, items in batches():
        for key, content, prov in items:
            with contextlib.suppress(RecordError):
                one.apply_listing(room, key, content, prov)
        bulk.apply_listings(room, items)
    for key, _ in one.db.execute(
        "SELECT org_id, room_id FROM directory_listings WHERE room_id = ?", [ROOM_A]
    ).fetchall():
        one.apply_listing(ROOM_A, key, {}, listing(ROOM_A, None, key, 9_000)[2])
    while bulk.drop_some(ROOM_A, 4):
        pass
    assert snapshot(bulk) == snapshot(one)
    assert bulk.get("b-40") is not None and bulk.stats()["listings"] == 1  # B's stays shown
    orphans = "SELECT count(*) FROM directory_entities WHERE shown NOT IN"
    orphans += " (SELECT rowid FROM directory_shown)"
    assert bulk.db.execute(orphans).fetchone()[0] == 0
