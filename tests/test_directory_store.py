"""The directory store: local records and publishing, mirrored listings, dedupe, search."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.storage import Store, open_store
from directory import store as store_module
from directory.hsds import RecordError, to_published, validate
from directory.store import Change, Directory, Provenance

ROOM_A, ROOM_B = "!dir-a:a.example", "!dir-b:b.example"
_events = itertools.count(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "m.db")
    yield store
    store.close()


@pytest.fixture
def directory(store: Store) -> Directory:
    return Directory(store)


def provenance(room: str, ts: int = 1_000) -> Provenance:
    network = "Network A" if room == ROOM_A else "Network B"
    server = room.split(":")[1]
    return Provenance(network, server, room, f"$event{next(_events)}", f"@dir:{server}", ts)


def publish(directory: Directory, room: str, record: dict[str, Any], ts: int = 1_000) -> str:
    """Mirror a record as if `room` had published it; returns its state key."""
    org = validate(record)
    directory.apply_listing(room, org.id, to_published(org), provenance(room, ts))
    return org.id


def names(page: Any) -> list[str]:
    return [item.organization.name for item in page.items]


def test_listing_is_searchable_with_provenance(directory: Directory) -> None:
    org_id = publish(directory, ROOM_A, {"name": "Verikom", "locations": [{"city": "Hamburg"}]})
    shown = directory.get(org_id)
    assert shown is not None and shown.organization.name == "Verikom"
    (source,) = shown.sources
    assert (source.network, source.homeserver, source.room_id) == ("Network A", "a.example", ROOM_A)
    assert source.event_id.startswith("$event") and source.origin_ts == 1_000
    assert "sender" not in shown.as_json()["sources"][0]
    assert names(directory.search("verikom")) == ["Verikom"]


@pytest.mark.parametrize(
    "text",
    [
        '<script>alert("x")</script>',
        "Robert'); DROP TABLE directory_listings;--",
        "Mentoring 🤝🏽 für alle 👩‍👩‍👧‍👦",
        "مرشدون للاجئين \u202eevil\u202c עזרה",
        "x' OR '1'='1",
    ],
)
def test_hostile_strings_are_stored_and_returned_exactly(directory: Directory, text: str) -> None:
    description = text + "\n" + "Ä lot of text. " * 700  # over 10 kB
    org_id = publish(directory, ROOM_A, {"name": text, "description": description})
    shown = directory.get(org_id)
    assert shown is not None
    assert (shown.organization.name, shown.organization.description) == (text, description)
    directory.save_local(validate({"id": "local-1", "name": text, "description": description}))
    local = directory.local("local-1")
    assert local is not None and local.description == description
    assert directory.search(text).total == 1
    assert directory.room_listing_count(ROOM_A) == 1  # the tables are all still there


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "NEAR(",
        "NEAR(a b",
        "DROP TABLE",
        "a OR b",
        "name:x",
        "*",
        "^mentor",
        "-x",
        "(",
        "'",
    ],
)
def test_fts_syntax_in_user_text_never_raises(directory: Directory, query: str) -> None:
    publish(directory, ROOM_A, {"name": "Near East Mentoring", "description": "drop in table talk"})
    page = directory.search(query, country="DE", service=query)
    assert page.total >= 0
    assert directory.search(query).total >= 0


def test_name_match_ranks_above_description_match(directory: Directory) -> None:
    publish(
        directory, ROOM_A, {"name": "Buddy Circle", "description": "Job mentoring for migrants"}
    )
    publish(directory, ROOM_A, {"name": "Mentoring Works", "description": "A buddy programme"})
    publish(directory, ROOM_A, {"name": "Unrelated", "description": "Cooking club"})
    assert names(directory.search("mentoring")) == ["Mentoring Works", "Buddy Circle"]
    assert names(directory.search("buddy")) == ["Buddy Circle", "Mentoring Works"]


def test_search_is_accent_insensitive_and_finds_word_beginnings(directory: Directory) -> None:
    publish(directory, ROOM_A, {"name": "Accueil Genève", "locations": [{"city": "Genève"}]})
    publish(
        directory, ROOM_A, {"name": "Patenschaften München", "locations": [{"city": "München"}]}
    )
    assert names(directory.search("Geneve")) == ["Accueil Genève"]
    assert names(directory.search("GENÈVE")) == ["Accueil Genève"]
    assert names(directory.search("munchen")) == ["Patenschaften München"]
    # German transliteration is indexed too (ä→ae, ö→oe, ü→ue, ß→ss):
    assert names(directory.search("muenchen")) == ["Patenschaften München"]
    assert names(directory.search("patenschaft")) == ["Patenschaften München"]
    assert names(directory.search(city="geneve")) == ["Accueil Genève"]
    assert names(directory.search(city="Muenchen")) == ["Patenschaften München"]


def test_words_match_on_their_beginning(directory: Directory) -> None:
    publish(directory, ROOM_A, {"name": "Mentorinnen-Netzwerk", "description": "Jobs für alle"})
    publish(directory, ROOM_A, {"name": "Job Club", "description": "Mentoring"})
    assert names(directory.search("mentoring")) == ["Mentorinnen-Netzwerk", "Job Club"]
    assert names(directory.search("mento")) == ["Mentorinnen-Netzwerk", "Job Club"]
    assert names(directory.search("netzwerke")) == ["Mentorinnen-Netzwerk"]
    assert names(directory.search("job")) == ["Job Club"]  # three letters: the whole word
    assert names(directory.search("jobs")) == ["Mentorinnen-Netzwerk"]
    assert directory.search("men").total == 0


def test_all_words_must_match(directory: Directory) -> None:
    publish(directory, ROOM_A, {"name": "Job mentoring", "description": "for refugees"})
    publish(directory, ROOM_A, {"name": "Job coaching", "description": "for students"})
    assert names(directory.search("job refugees")) == ["Job mentoring"]
    assert directory.search("job nothere").total == 0


def seed_filters(directory: Directory) -> None:
    publish(
        directory,
        ROOM_A,
        {
            "name": "Alpha",
            "locations": [{"city": "Berlin", "country": "DE"}],
            "services": [
                {"name": "Job mentoring", "languages": ["de", "ar"], "target_groups": ["Refugees"]}
            ],
        },
    )
    publish(
        directory,
        ROOM_A,
        {
            "name": "Beta",
            "locations": [{"city": "Gent", "country": "BE"}],
            "services": [
                {"name": "School buddies", "languages": ["nl"], "target_groups": ["children"]}
            ],
        },
    )
    publish(
        directory,
        ROOM_B,
        {
            "name": "Gamma",
            "locations": [{"city": "Hamburg", "country": "DE"}],
            "services": [
                {
                    "name": "Language café",
                    "languages": ["de"],
                    "target_groups": ["refugees", "women"],
                }
            ],
        },
    )


def test_filters_combine_with_and(directory: Directory) -> None:
    seed_filters(directory)
    assert names(directory.search(country="de")) == ["Alpha", "Gamma"]
    assert names(directory.search(city="hamburg")) == ["Gamma"]
    assert names(directory.search(language="DE")) == ["Alpha", "Gamma"]
    assert names(directory.search(language="ar")) == ["Alpha"]
    assert names(directory.search(target_group="refugees")) == ["Alpha", "Gamma"]
    assert names(directory.search(target_group="refugees", city="Berlin")) == ["Alpha"]
    assert names(directory.search(service="mentoring")) == ["Alpha"]
    assert names(directory.search("school", country="DE")) == []
    assert names(directory.search("buddies", country="BE", language="nl")) == ["Beta"]


def test_service_filter_matches_service_names_only(directory: Directory) -> None:
    publish(directory, ROOM_A, {"name": "Mentoring House", "services": [{"name": "Café"}]})
    publish(directory, ROOM_A, {"name": "Other", "services": [{"name": "Mentoring"}]})
    assert names(directory.search(service="mentoring")) == ["Other"]


def test_a_broad_query_is_ranked_name_matches_first_in_windows(
    directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "RANK_LIMIT", 2)
    monkeypatch.setattr(store_module, "COUNT_LIMIT", 4)
    for name, description in [
        ("Mentoring", ""),
        ("Mentoring for women and families", ""),
        ("First", "mentoring mentoring mentoring"),
        ("Second", "some mentoring among many other words here"),
        ("Third", "mentoring"),
        ("Fourth", "more about mentoring and other things"),
    ]:
        publish(directory, ROOM_A, {"name": name, "description": description})
    first = directory.search("mentoring", per_page=3)
    assert (first.total, first.exact_total) == (4, False)
    # every name match first, the shorter name above; the rest by relevance, two at a time
    assert names(first) == ["Mentoring", "Mentoring for women and families", "Third"]
    assert names(directory.search("mentoring", page=2, per_page=3)) == ["Fourth", "First", "Second"]
    assert names(directory.search("mentoring", page=3, per_page=3)) == []


def test_a_broad_query_with_a_filter_is_ranked(
    directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "RANK_LIMIT", 2)
    for name, description, city in [
        ("Mentoring Alpha", "", "Gent"),
        ("Mentoring Beta in the old town", "", "Gent"),
        ("Gamma", "mentoring", "Kiel"),
        ("Zeta", "mentoring", "Gent"),
    ]:
        record = {"name": name, "description": description, "locations": [{"city": city}]}
        publish(directory, ROOM_A, record)
    common = directory.search("mentoring", city="Gent")
    assert names(common) == ["Mentoring Alpha", "Mentoring Beta in the old town", "Zeta"]


def test_a_renamed_organisation_leaves_the_name_tier(
    directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names the name tier looks in change with the listing: once `Mentoring Alpha` is
    renamed, a broad query ranks it among the description matches (newest window first)."""
    monkeypatch.setattr(store_module, "RANK_LIMIT", 1)
    site = "https://alpha.example"  # the same organisation after the rename (dedupe key)
    alpha = publish(directory, ROOM_A, {"id": "alpha", "name": "Mentoring Alpha", "website": site})
    for name in ("Beta", "Gamma"):
        publish(directory, ROOM_A, {"name": name, "description": "mentoring"})
    assert names(directory.search("mentoring")) == ["Mentoring Alpha", "Gamma", "Beta"]
    publish(
        directory,
        ROOM_A,
        {"id": alpha, "name": "Alpha", "description": "mentoring", "website": site},
    )
    assert names(directory.search("mentoring")) == ["Gamma", "Beta", "Alpha"]


def test_a_common_term_in_thousands_of_organisations_is_ranked(directory: Directory) -> None:
    """More matches than the store ranks at once: name matches (the oldest here) still come
    first, by relevance, and a strong description match above the weak ones around it."""
    weak = "a place for mentoring and more"
    records: list[dict[str, Any]] = [
        {"name": "Mentoring"},
        {"name": "Mentoring Hamburg"},
        {"name": "Mentoring network for women and families in the city"},
        *({"name": f"Filler {n}", "description": weak} for n in range(2_000)),
        {"name": "Strong", "description": "mentoring mentoring mentoring mentoring"},
        *({"name": f"Filler {n}", "description": weak} for n in range(2_000, 2_100)),
    ]
    listings = []
    for record in records:
        org = validate(record)
        listings.append((org.id, to_published(org), provenance(ROOM_A)))
    assert not directory.apply_listings(ROOM_A, listings)
    page = directory.search("mentoring", per_page=4)
    assert (page.total, page.exact_total) == (len(records), True)
    assert names(page) == [
        "Mentoring",
        "Mentoring Hamburg",
        "Mentoring network for women and families in the city",
        "Strong",
    ]


def test_listing_without_text_is_by_name_and_pages(directory: Directory) -> None:
    for name in ["delta", "Alpha", "Ähre", "charlie", "Bravo"]:
        publish(directory, ROOM_A, {"name": name})
    first = directory.search(per_page=2)
    assert (first.total, names(first)) == (5, ["Ähre", "Alpha"])
    assert names(directory.search(page=3, per_page=2)) == ["delta"]
    with pytest.raises(ValueError):
        directory.search(per_page=1_000)


def test_same_website_in_two_rooms_is_one_result_with_two_sources(directory: Directory) -> None:
    a = publish(directory, ROOM_A, {"name": "Hefboom", "website": "https://www.hefboom.be/"}, 1)
    b = publish(
        directory, ROOM_B, {"id": "hef", "name": "Hefboom vzw", "website": "http://hefboom.be"}, 2
    )
    page = directory.search("hefboom")
    assert page.total == 1
    (item,) = page.items
    assert item.organization.name == "Hefboom vzw"  # as complete as A's, and newer: it leads
    assert {source.room_id for source in item.sources} == {ROOM_A, ROOM_B}
    assert directory.get(a) == directory.get(b) == item
    assert directory.stats()["by_network"] == {"Network A": 1, "Network B": 1}
    assert directory.stats()["organizations"] == 1

    directory.apply_listing(ROOM_B, b, {}, provenance(ROOM_B))
    (left,) = directory.search("hefboom").items
    assert left.organization.name == "Hefboom" and [s.room_id for s in left.sources] == [ROOM_A]


def test_two_listings_of_one_organisation_are_merged_and_both_searchable(
    directory: Directory,
) -> None:
    """A bare listing by B hides none of A's data: services, languages, locations and phones
    are united, each single value from the most complete listing that has it."""
    full = {
        "id": "a-hef",
        "name": "Hefboom",
        "website": "https://www.hefboom.be",
        "description": "Mentoring for newcomers",
        "legal_status": "vzw",
        "languages": ["nl", "fr"],
        "services": [{"name": "Buddy programme", "target_groups": ["refugees"]}],
        "locations": [{"city": "Brussels", "country": "BE", "latitude": 50.85, "longitude": 4.35}],
        "phones": [{"number": "+32 2 123 45 67"}],
    }
    bare = {
        "id": "b-hef",
        "name": "Hefboom vzw",
        "website": "http://hefboom.be",
        "email": "info@hefboom.be",
        "languages": ["en"],
        "services": [
            {"name": "buddy programme", "languages": ["en"], "fees": "free"},
            {"name": "Job coaching"},
        ],
        "locations": [{"city": "Gent", "country": "BE"}],
        "phones": [{"number": "+32 (2) 123 4567", "description": "office"}],
    }
    publish(directory, ROOM_A, full, 1)
    publish(directory, ROOM_B, bare, 2)  # newer, but less complete
    (item,) = directory.search("hefboom").items
    org = item.organization
    assert (item.id, org.name, org.description) == ("a-hef", "Hefboom", "Mentoring for newcomers")
    assert org.email == "info@hefboom.be"  # only B gives one
    assert org.languages == ("nl", "fr", "en")
    buddy, coaching = org.services
    assert buddy.name == "Buddy programme" and buddy.target_groups == ("refugees",)
    assert (buddy.language_codes, buddy.fees_description) == (("en",), "free")
    assert coaching.name == "Job coaching"
    assert [(loc.city, loc.latitude) for loc in org.locations] == [
        ("Brussels", 50.85),
        ("Gent", None),
    ]
    assert [(p.number, p.description) for p in org.phones] == [("+32 2 123 45 67", "office")]
    assert [s.room_id for s in item.sources] == [ROOM_A, ROOM_B]  # the leading one first
    for query, filters in [
        ("buddy", {}),
        ("job coaching", {}),
        ("newcomers", {"language": "en"}),
        (None, {"city": "Gent", "target_group": "refugees"}),
        ("hefboom", {"service": "coaching", "language": "nl"}),
    ]:
        assert directory.search(query, **filters).total == 1, (query, filters)
    assert directory.get("b-hef") == directory.get("a-hef") == item

    directory.apply_listing(ROOM_A, "a-hef", {}, provenance(ROOM_A))  # A withdraws its listing
    (left,) = directory.search("hefboom").items
    assert left.organization.name == "Hefboom vzw" and directory.search("refugees").total == 0
    assert [s.room_id for s in left.sources] == [ROOM_B]


def test_merged_services_name_the_place_kept_of_a_place_both_list(directory: Directory) -> None:
    """Both networks list the same office under their own location ids: the merged record
    has one office (the leading listing's), and every service offered there, from either
    listing, names it once."""
    office = {"address_1": "Rue Haute 1", "city": "Brussels", "country": "BE"}
    publish(directory, ROOM_A, {
        "id": "a-dw", "name": "DUO for a JOB", "website": "https://duoforajob.be",
        "description": "Mentoring for jobseekers", "email": "info@duoforajob.be",
        "languages": ["fr", "nl"], "phones": [{"number": "+32 2 555 01 01"}],
        "locations": [{"id": "a-office", **office}],
        "services": [{"name": "Duo", "service_at_locations": [{"location_id": "a-office"}]}],
    }, 1)  # fmt: skip
    publish(directory, ROOM_B, {
        "id": "b-dw", "name": "DUO for a JOB", "website": "https://duoforajob.be",
        "locations": [{"id": "b-office", **office}],
        "services": [
            {"name": "Duo", "service_at_locations": [{"location_id": "b-office"}]},
            {"name": "Workshops", "service_at_locations": [{"location_id": "b-office"}]},
        ],
    }, 2)  # fmt: skip
    org = directory.get("a-dw").organization
    assert [location.id for location in org.locations] == ["a-office"]
    places = {s.name: [link.location_id for link in s.service_at_locations] for s in org.services}
    assert places == {"Duo": ["a-office"], "Workshops": ["a-office"]}


def test_merged_listings_unite_schedules_programs_and_service_areas(
    directory: Directory,
) -> None:
    """What both networks say once is there once, what only one says is kept, and a service
    of B's names A's program where both list the same one."""
    weekly = {"freq": "WEEKLY", "byday": "MO", "opens_at": "10:00", "closes_at": "12:00"}
    publish(directory, ROOM_A, {
        "id": "a-k", "name": "Kompass", "website": "https://kompass.at",
        "description": "Mentoring in Vienna", "email": "info@kompass.at", "legal_status": "Verein",
        "languages": ["de", "en", "tr", "ar", "fa", "uk", "ru", "fr", "es", "it"],
        "programs": [{"id": "a-newcomers", "name": "Newcomers"}],
        "locations": [{"city": "Wien", "country": "AT", "schedules": [weekly]}],
        "services": [{"name": "Tandem", "program_id": "a-newcomers", "schedules": [weekly],
                      "service_areas": [{"name": "Wien"}]}],
    }, 1)  # fmt: skip
    publish(directory, ROOM_B, {
        "id": "b-k", "name": "Kompass", "website": "https://kompass.at",
        "programs": [{"id": "b-newcomers", "name": "newcomers"}, {"name": "Women"}],
        "locations": [{"city": "Wien", "country": "AT",
                       "schedules": [weekly, {"freq": "WEEKLY", "byday": "TH"}]}],
        "services": [
            {"name": "Tandem", "schedules": [{**weekly, "id": "b-weekly"}, {"byday": "FR"}],
             "service_areas": [{"name": "WIEN"}, {"name": "Niederösterreich"}]},
            {"name": "Job coaching", "program_id": "b-newcomers"},
        ],
    }, 2)  # fmt: skip
    org = directory.get("a-k").organization
    assert [program.name for program in org.programs] == ["Newcomers", "Women"]
    tandem, coaching = org.services
    assert [(x.byday, x.opens_at) for x in tandem.schedules] == [("MO", "10:00"), ("FR", None)]
    assert [area.name for area in tandem.service_areas] == ["Wien", "Niederösterreich"]
    assert coaching.program_id == tandem.program_id == "a-newcomers"
    (place,) = org.locations
    assert [x.byday for x in place.schedules] == ["MO", "TH"]


def test_an_upgraded_database_merges_what_it_held(tmp_path: Path) -> None:
    store = open_store(tmp_path / "old.db")
    store.migrate(store_module.directory_migrations.first(1))  # as the code before merging left it
    for room, record in [
        (ROOM_A, {"id": "x1", "name": "Kompass", "website": "https://kompass.at"}),
        (ROOM_B, {"id": "x2", "name": "Kompass", "website": "https://kompass.at",
                  "services": [{"name": "Tandem"}]}),
    ]:  # fmt: skip
        org = validate(record)
        store.db.execute(
            "INSERT INTO directory_listings VALUES (?, ?, ?, ?, 'N', 's', '$e', '@b:s', 1, 0)",
            [room, org.id, store_module._dumps(store_module.to_dict(org)), org.dedupe_key],
        )
    directory = Directory(store)
    assert [item.organization.services[0].name for item in directory.search("tandem").items] == [
        "Tandem"
    ]
    store.close()


def test_the_api_index_of_an_upgraded_database_holds_the_merged_record(tmp_path: Path) -> None:
    """A database merged before the API existed gets its index of services from the merged
    records, so the API lists every network's services of an organisation."""
    store = open_store(tmp_path / "merged.db")
    store.migrate(store_module.directory_migrations.first(2))  # merged listings, no API yet
    old = Directory.__new__(Directory)
    old.store, old.db = store, store.db
    for n, (room, service) in enumerate([(ROOM_A, "Tandem"), (ROOM_B, "Buddy")]):
        org = validate({"id": f"k{n}", "name": "Kompass", "website": "https://kompass.at",
                        "services": [{"name": service}]})  # fmt: skip
        _insert_old_listing(store, room, org)
    directory = Directory(store)  # the API's index is built
    services = directory.db.execute(
        "SELECT json_extract(coalesce(s.record, l.record), e.path || '.name')"
        " FROM directory_entities e JOIN directory_shown s ON s.rowid = e.shown"
        " JOIN directory_listings l ON l.room_id = s.room_id AND l.org_id = s.id"
        " WHERE e.kind = 'service' ORDER BY e.position"
    ).fetchall()
    assert sorted(name for (name,) in services) == ["Buddy", "Tandem"]
    store.close()


def _insert_old_listing(store: Store, room: str, org: Any) -> None:
    """A listing as the code of an older schema (before `directory_names`) stored it."""
    store.db.execute(
        "INSERT INTO directory_listings VALUES (?, ?, ?, ?, 'N', 's', '$e', '@b:s', 1, 0)",
        [room, org.id, store_module._dumps(store_module.to_dict(org)), org.dedupe_key],
    )
    store_module._reshow(store.db, org.dedupe_key, {"directory_fts": store_module.FTS_COLUMNS})


def test_an_upgraded_database_ranks_name_matches_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name tier of a broad query comes from the upgrade's copy of the names: a name or
    alternate name match first, though newer description matches rank higher by bm25."""
    monkeypatch.setattr(store_module, "RANK_LIMIT", 1)
    store = open_store(tmp_path / "old.db")
    store.migrate(store_module.directory_migrations.first(3))
    for record in [
        {"name": "Kompass Mentoring for women and families in the city of Vienna"},
        {"name": "Tandem", "alternate_name": "Kompass Tandem"},
        {"name": "Buddy", "description": "kompass kompass kompass kompass"},
        {"name": "Lotse", "description": "kompass kompass kompass"},
    ]:
        _insert_old_listing(store, ROOM_A, validate(record))
    directory = Directory(store)
    assert names(directory.search("kompass")) == [
        "Tandem",
        "Kompass Mentoring for women and families in the city of Vienna",
        "Lotse",
        "Buddy",
    ]
    store.close()


def test_same_name_and_city_in_two_rooms_is_one_result(directory: Directory) -> None:
    publish(directory, ROOM_A, {"name": "Verikom", "locations": [{"city": "Hamburg"}]})
    publish(directory, ROOM_B, {"id": "v2", "name": "VERIKOM", "locations": [{"city": "hamburg"}]})
    publish(directory, ROOM_B, {"name": "Verikom", "locations": [{"city": "Berlin"}]})
    page = directory.search("verikom")
    assert page.total == 2
    assert sorted(len(item.sources) for item in page.items) == [1, 2]


def test_changing_the_website_moves_the_listing_to_another_group(directory: Directory) -> None:
    publish(directory, ROOM_A, {"id": "x", "name": "X", "website": "https://one.example"})
    publish(directory, ROOM_B, {"id": "y", "name": "Y", "website": "https://one.example"})
    publish(directory, ROOM_B, {"id": "y", "name": "Y", "website": "https://two.example"})
    assert directory.search().total == 2
    assert [len(item.sources) for item in directory.search().items] == [1, 1]


def test_apply_listing_is_idempotent_and_empty_content_removes(directory: Directory) -> None:
    org = validate({"name": "Idem"})
    prov = provenance(ROOM_A)
    content = to_published(org)
    assert directory.apply_listing(ROOM_A, org.id, content, prov) == Change.added
    assert directory.apply_listing(ROOM_A, org.id, content, prov) == Change.unchanged
    assert directory.search().total == 1 and directory.room_listing_count(ROOM_A) == 1
    assert directory.apply_listing(ROOM_A, org.id, {}, provenance(ROOM_A)) == Change.removed
    assert directory.apply_listing(ROOM_A, org.id, {}, provenance(ROOM_A)) == Change.absent
    assert directory.search().total == 0 and directory.get(org.id) is None


def test_invalid_content_is_refused_and_hides_the_older_version(directory: Directory) -> None:
    org_id = publish(directory, ROOM_A, {"name": "Was fine"})
    broken = {"schema_version": 1, "organization": {"id": org_id, "name": "", "website": "data:x"}}
    with pytest.raises(RecordError, match="name: missing"):
        directory.apply_listing(ROOM_A, org_id, broken, provenance(ROOM_A))
    assert directory.get(org_id) is None and directory.room_listing_count(ROOM_A) == 0


def test_contacts_in_a_listing_are_never_stored(directory: Directory, store: Store) -> None:
    content = {
        "schema_version": 1,
        "organization": {
            "id": "c",
            "name": "Has contacts",
            "contacts": [{"name": "Private Person"}],
        },
    }
    directory.apply_listing(ROOM_A, "c", content, provenance(ROOM_A))
    shown = directory.get("c")
    assert shown is not None and shown.organization.contacts == ()
    dump = "\n".join(store.db.conn.iterdump())
    assert "Private Person" not in dump


def test_drop_room_forgets_only_that_room(directory: Directory) -> None:
    publish(directory, ROOM_A, {"name": "Shared", "website": "https://shared.example"})
    publish(directory, ROOM_B, {"id": "s", "name": "Shared", "website": "https://shared.example"})
    publish(directory, ROOM_B, {"name": "Only B"})
    assert directory.drop_room(ROOM_B) == 2
    assert directory.room_listing_count(ROOM_B) == 0
    assert names(directory.search()) == ["Shared"]
    assert [s.room_id for s in directory.search().items[0].sources] == [ROOM_A]
    assert directory.search("only").total == 0
    assert directory.drop_room(ROOM_B) == 0


def test_provenance_must_be_for_the_room(directory: Directory) -> None:
    with pytest.raises(ValueError):
        directory.apply_listing(ROOM_A, "x", {}, provenance(ROOM_B))


def test_apply_listings_in_one_batch_reports_refused_keys(directory: Directory) -> None:
    good = validate({"name": "Good"})
    refused = directory.apply_listings(
        ROOM_A,
        [
            (good.id, to_published(good), provenance(ROOM_A)),
            (
                "bad",
                {"schema_version": 1, "organization": {"name": "Bad", "email": "no"}},
                provenance(ROOM_A),
            ),
        ],
    )
    assert list(refused) == ["bad"] and "email" in str(refused["bad"])
    assert names(directory.search()) == ["Good"]


def test_stats_count_countries_and_networks(directory: Directory) -> None:
    seed_filters(directory)
    stats = directory.stats()
    assert stats["by_country"] == {"DE": 2, "BE": 1}
    assert stats["by_network"] == {"Network A": 2, "Network B": 1}
    assert (stats["organizations"], stats["listings"]) == (3, 3)


# --- local records and what is still to publish ---------------------------------------------


def test_local_records_keep_contacts_and_wait_to_be_published(directory: Directory) -> None:
    org = validate({"id": "ours", "name": "Ours", "contacts": [{"name": "Ana", "email": "a@b.eu"}]})
    assert directory.save_local(org) == "ours"
    assert directory.local("ours") == org
    (pending,) = directory.pending()
    assert pending.org_id == "ours"
    assert (
        pending.content == to_published(org) and "contacts" not in pending.content["organization"]
    )
    assert directory.search().total == 0  # shown only once it comes back from the room
    assert directory.mark_published("ours", "$e1", pending.revision)
    assert directory.pending() == []
    directory.save_local(org)
    assert directory.pending() == []  # saving the same record again changes nothing


def test_an_edit_made_while_publishing_stays_pending(directory: Directory) -> None:
    directory.save_local(validate({"id": "o", "name": "First"}))
    (pending,) = directory.pending()
    directory.save_local(validate({"id": "o", "name": "Second"}))
    assert not directory.mark_published("o", "$e1", pending.revision)
    (again,) = directory.pending()
    assert again.content["organization"]["name"] == "Second"


def test_removing_a_local_record_publishes_an_empty_event(directory: Directory) -> None:
    directory.save_local(validate({"id": "gone", "name": "Gone"}))
    directory.mark_published("gone", "$e1")
    assert directory.remove_local("gone")
    assert directory.local("gone") is None and directory.local_all() == []
    (pending,) = directory.pending()
    assert (pending.org_id, pending.content) == ("gone", {})
    assert directory.mark_published("gone", "$e2", pending.revision)
    assert directory.pending() == [] and not directory.remove_local("gone")


def test_local_all_is_sorted_by_name(directory: Directory) -> None:
    counts = directory.save_local_many(validate({"name": n}) for n in ["b", "Ä", "c"])
    assert (counts.added, counts.updated, counts.unchanged) == (3, 0, 0)
    assert [org.name for org in directory.local_all()] == ["Ä", "b", "c"]


def test_data_survives_reopening(tmp_path: Path) -> None:
    store = open_store(tmp_path / "d.db")
    publish(Directory(store), ROOM_A, {"name": "Persistent"})
    store.close()
    reopened = open_store(tmp_path / "d.db")
    assert names(Directory(reopened).search("persistent")) == ["Persistent"]
    reopened.close()
