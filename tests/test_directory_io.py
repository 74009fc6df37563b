"""Import and export: HSDS JSON and CSV, line numbers, all-or-nothing, round trips, the seed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.storage import Store, open_store
from directory.hsds import to_dict, to_published, validate
from directory.io import (
    CSV_COLUMNS,
    MAX_FILE_BYTES,
    ImportRefused,
    export_records,
    import_records,
    read_import,
    save_import,
)
from directory.store import Directory, Provenance
from main import main
from tests.test_directory_model import HOSTILE, full_record

SEED = Path(__file__).resolve().parent.parent / "directory" / "seed.json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "m.db")
    yield store
    store.close()


@pytest.fixture
def directory(store: Store) -> Directory:
    return Directory(store)


def problems(report) -> list[str]:
    return [str(problem) for problem in report.errors]


# --- JSON ----------------------------------------------------------------------------------


def test_json_errors_name_the_record_line_and_field(directory: Directory) -> None:
    data = json.dumps(
        {
            "organizations": [
                {"name": "Good one"},
                {"name": "Bad country", "locations": [{"country": "XX"}]},
                {"website": "javascript:alert(1)"},
            ]
        },
        indent=2,
    ).encode()
    report = import_records(data, "orgs.json")
    assert problems(report) == ["line 14, record 3: name: missing"]
    assert report.warnings == [
        'line 6, record 2: locations[0].country: "XX" is not an ISO 3166-1 country code (left out)',
        "line 6, record 2: locations[0]: empty (give an address, city, country or coordinates)"
        " (left out)",
    ]
    with pytest.raises(ImportRefused):
        save_import(directory, report)
    assert directory.local_all() == [] and directory.pending() == []


def test_json_list_and_wrapped_forms_are_both_read() -> None:
    records = [{"name": "A"}, {"name": "B", "tax_status": "exempt", "x_custom": {"k": [1]}}]
    listed = import_records(json.dumps(records).encode(), "x.json")
    wrapped = import_records(json.dumps({"organizations": records}).encode(), "upload")
    single = import_records(json.dumps(records[1]).encode(), "one.json")
    assert [o.name for o in listed.organizations] == [o.name for o in wrapped.organizations]
    assert [o.name for o in single.organizations] == ["B"]
    assert listed.warnings == [] and wrapped.format == "json"
    exported = to_dict(single.organizations[0])
    assert (exported["tax_status"], exported["x_custom"]) == ("exempt", {"k": [1]})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"name": "A"},\n {"name": }]', "line 2: not JSON: Expecting value"),
        (
            b'{"orgs": []}',
            'line 1: expected organisations: one, a list, or {"organizations": [...]}',
        ),
        (b"\xff\xfe[]", "the file is not UTF-8 text"),
    ],
)
def test_broken_json_files_say_why(data: bytes, message: str) -> None:
    assert problems(import_records(data, "x.json")) == [message]


def test_duplicate_records_in_one_file_are_reported() -> None:
    data = json.dumps(
        [
            {"id": "a", "name": "A"},
            {"id": "a", "name": "A again"},
            {"name": "Verikom", "locations": [{"city": "Hamburg"}]},
            {"name": "verikom", "locations": [{"city": "HAMBURG"}]},
        ]
    ).encode()
    assert problems(import_records(data, "x.json")) == [
        "line 1, record 2: id: 'a' is also the id of record 1",
        "line 1, record 4: id: same organisation as record 3 (same website, or name and city);"
        " give each an id",
    ]


def test_importing_the_same_file_twice_adds_nothing(directory: Directory) -> None:
    data = json.dumps([{"name": "A", "locations": [{"city": "Gent"}]}, {"name": "B"}]).encode()
    first = save_import(directory, import_records(data, "x.json"))
    second = save_import(directory, import_records(data, "x.json"))
    assert (first.added, second.added, second.updated, second.unchanged) == (2, 0, 0, 2)
    assert [org.name for org in directory.local_all()] == ["A", "B"]
    assert len(directory.pending()) == 2


def test_a_changed_record_is_updated_not_duplicated(directory: Directory) -> None:
    save_import(directory, import_records(b'[{"id": "x", "name": "Old"}]', "x.json"))
    counts = save_import(directory, import_records(b'[{"id": "x", "name": "New"}]', "x.json"))
    assert (counts.added, counts.updated) == (0, 1)
    assert [org.name for org in directory.local_all()] == ["New"]


# --- CSV -----------------------------------------------------------------------------------


def test_csv_reports_every_bad_row_with_its_physical_line_and_column(
    directory: Directory,
) -> None:
    data = (
        "id,name,description,website,city,country,service_name,service_languages\n"
        'a,Alpha,"two\nline description",https://alpha.example,Gent,BE,Mentoring,nl\n'
        "b,,,,Gent,BE,,\n"
        "c,Gamma,,ftp://gamma.example,Kiel,DE,,\n"
        "c,,,,Lübeck,XX,Buddies,german\n"
        ",,,,,,Orphan service,\n"
    ).encode()
    report = import_records(data, "x.csv")
    assert problems(report) == [
        "line 4: name: missing",
        "line 7: name: missing (a row without a name needs the id of the organisation it adds to)",
    ]
    assert report.warnings == [
        "line 5: website: not a web address (http or https) (left out)",
        'line 6: country: "XX" is not an ISO 3166-1 country code (left out)',
        'line 6: service_languages: "german" is not an ISO 639-1 language code'
        " (two letters, e.g. de) (left out)",
    ]
    with pytest.raises(ImportRefused):
        save_import(directory, report)
    assert directory.local_all() == []


def test_csv_rows_with_one_id_add_services_and_locations() -> None:
    data = (
        "id,name,city,country,service_name,target_groups,service_languages,phone\n"
        "v,Verikom,Hamburg,DE,Job mentoring,refugees;women,de;tr,+49 40 1234\n"
        "v,,Berlin,DE,Language café,refugees,de,\n"
        "v,Verikom,Hamburg,DE,,,,\n"
    ).encode()
    (org,) = import_records(data, "x.csv").organizations
    assert [loc.city for loc in org.locations] == ["Hamburg", "Berlin"]
    assert [s.name for s in org.services] == ["Job mentoring", "Language café"]
    assert org.services[0].target_groups == ("refugees", "women")
    assert org.languages == ("de", "tr")
    assert [phone.number for phone in org.phones] == ["+49 40 1234"]


def test_csv_conflicting_organisation_fields_are_reported() -> None:
    data = b"id,name\nx,One\nx,Two\n"
    assert problems(import_records(data, "x.csv")) == [
        "line 3: name: differs from line 2 for the same organisation"
    ]


def test_german_excel_csv_is_read() -> None:
    text = (
        "sep=;\r\n"
        "Name;Website;Stadt;City;Country;Latitude;Longitude\r\n"
        '"Grüne; Hilfe";www.gruene-hilfe.example;x;Köln;de;50,94;6,96\r\n'
    )
    report = import_records(b"\xef\xbb\xbf" + text.encode(), "Organisationen.csv")
    assert report.ok, problems(report)
    (org,) = report.organizations
    assert (org.name, org.website) == ("Grüne; Hilfe", "https://www.gruene-hilfe.example")
    assert (org.locations[0].city, org.locations[0].country) == ("Köln", "DE")
    assert (org.locations[0].latitude, org.locations[0].longitude) == (50.94, 6.96)
    assert report.warnings == ["ignored columns: Stadt"]


def test_windows_1252_csv_is_read_with_a_warning() -> None:
    report = import_records("name;city\nMünchner Paten;München\n".encode("cp1252"), "x.csv")
    assert [(o.name, o.city) for o in report.organizations] == [("Münchner Paten", "München")]
    assert report.warnings == ["the file is not UTF-8; it was read as Windows-1252"]


def test_csv_without_a_name_column_is_refused() -> None:
    assert problems(import_records(b"title,city\nx,y\n", "x.csv")) == [
        "line 1: name: the header has no name column"
    ]


def test_csv_row_with_too_many_cells_is_reported() -> None:
    report = import_records(b"name,city\nA,Gent\nB,Gent,extra\n", "x.csv")
    assert problems(report) == ["line 3: 3 cells but the header has 2 columns"]


def test_files_over_20_mb_and_huge_rows_are_refused() -> None:
    big = b"name\n" + b"x" * MAX_FILE_BYTES
    assert problems(import_records(big, "x.csv")) == [
        "file is 20.0 MB; at most 20 MB can be imported"
    ]
    huge_row = b"name,description\nA," + b"y" * 120_000 + b"\n"
    assert problems(import_records(huge_row, "x.csv")) == [
        "line 2: row longer than 100,000 characters"
    ]


# --- export and round trips ----------------------------------------------------------------


def round_trip_records():
    plain = validate(full_record())
    hostile = validate(
        full_record(
            id="hostile",
            name=HOSTILE["emoji"],
            alternate_name=HOSTILE["rtl"],
            description=HOSTILE["html"] + "\r\n" + HOSTILE["sql"] + "\n" + HOSTILE["long"],
            legal_status='=HYPERLINK("http://evil.example")',
            phones=[{"number": "+49 (0)40 123-45", "description": "-1+1"}],
            services=[{"name": "@SUM(A1)", "target_groups": ["'=quoted"], "languages": ["ar"]}],
            locations=[{"city": "Genève", "country": "CH", "latitude": -33.5, "longitude": 0}],
        )
    )
    bare = validate({"name": "Bare"})
    return [plain, hostile, bare]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_import_keeps_every_field(fmt: str) -> None:
    orgs = round_trip_records()
    data = export_records(orgs, fmt)
    report = import_records(data, f"export.{fmt}")
    assert report.ok and report.warnings == [], (problems(report), report.warnings)
    assert report.organizations == orgs
    assert [to_dict(org) for org in report.organizations] == [to_dict(org) for org in orgs]


def test_csv_export_defuses_formulas_and_has_every_column() -> None:
    data = export_records(round_trip_records(), "csv").decode()
    header, *_ = data.split("\r\n")
    assert header.split(",") == CSV_COLUMNS
    assert "'=HYPERLINK" in data and "'@SUM(A1)" in data and "'+49 (0)40" in data
    assert ",=" not in data and ",@" not in data


def test_export_can_leave_contacts_out() -> None:
    data = export_records([validate(full_record())], "json", contacts=False)
    assert b"Ana Example" not in data
    assert b"Ana Example" in export_records([validate(full_record())], "json")


# --- the command line -----------------------------------------------------------------------


def test_command_line_import_is_all_or_nothing_and_export_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mentornet.yaml"
    config.write_text(
        "matrix: {homeserver: 'http://127.0.0.1:8008', user_id: '@bot:localhost', password: x}\n"
        f"storage: {{database: '{tmp_path / 'm.db'}'}}\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("name,country\nGood,BE\n,XX\n")
    assert main(["directory", "import", str(bad), "--config", str(config)]) == 1
    assert "line 3: name: missing" in capsys.readouterr().err
    assert main(["directory", "import", str(SEED), "--config", str(config)]) == 0
    assert main(["directory", "import", str(SEED), "--config", str(config)]) == 0
    assert "0 added, 0 updated, 25 unchanged" in capsys.readouterr().out
    exported = tmp_path / "out.csv"
    assert main(["directory", "export", str(exported), "--config", str(config)]) == 0
    again = import_records(exported.read_bytes(), exported.name)
    seed = import_records(SEED.read_bytes(), SEED.name)
    assert sorted(again.organizations, key=lambda o: o.id) == sorted(
        seed.organizations, key=lambda o: o.id
    )


# --- the seed file -------------------------------------------------------------------------


def test_seed_file_loads_with_only_the_facts_of_the_texts(directory: Directory) -> None:
    report = import_records(SEED.read_bytes(), SEED.name)
    assert report.ok and report.warnings == [], problems(report)
    orgs = {org.name: org for org in report.organizations}
    assert len(orgs) == 25
    assert {org.website for org in orgs.values() if org.website} == {
        "https://www.hefboom.be",
        "https://www.kuleuven.be",
        "https://www.mentor-network.eu",
    }
    cities = {org.city for org in orgs.values() if org.city}
    assert cities == {
        "Barcelona",
        "Antwerpen",
        "Brussels",
        "The Hague",
        "Madrid",
        "Malmö",
        "Padova",
        "Berlin",
        "Prague",
        "Hamburg",
        "Gent",
    }
    assert orgs["Hefboom"].country == "BE"
    assert orgs["Verikom"].city == "Hamburg"
    assert all(org.contacts == () and org.phones == () for org in orgs.values())
    assert save_import(directory, report).added == 25


def test_seed_published_and_mirrored_is_searchable(directory: Directory) -> None:
    save_import(directory, import_records(SEED.read_bytes(), SEED.name))
    room = "!ours:example.org"
    for index, pending in enumerate(directory.pending()):
        prov = Provenance("mentorNET demo", "example.org", room, f"$e{index}", "@dir:x", index)
        directory.apply_listing(room, pending.org_id, pending.content, prov)
        directory.mark_published(pending.org_id, f"$e{index}", pending.revision)
    assert directory.pending() == []
    assert [i.organization.name for i in directory.search("Landungsbrücken").items] == [
        "Bürgerstiftung"
    ]
    assert directory.search(city="Hamburg").total == 3
    assert directory.search(target_group="refugees").total >= 7
    assert directory.stats()["by_country"]["BE"] == 6
    hefboom = directory.search("hefboom").items[0]
    assert to_published(hefboom.organization)["organization"]["website"] == "https://www.hefboom.be"


async def test_an_import_is_read_while_the_event_loop_runs_on(directory: Directory) -> None:
    """Parsing and validating a large file happens in a worker thread: the other bots of the
    process keep running meanwhile; what it read is stored as the command line stores it."""
    records = [
        {"id": f"org-{n}", "name": f"Organisation {n}", "locations": [{"city": "Graz"}]}
        for n in range(3_000)
    ]
    reading = asyncio.create_task(read_import(json.dumps(records).encode(), "orgs.json"))
    turns = 0
    for _ in range(10_000_000):
        if reading.done():
            break
        turns += 1  # another bot's turn, while the file is being read
        await asyncio.sleep(0)
    report = reading.result()
    assert report.ok and len(report.organizations) == 3_000 and turns > 1
    assert save_import(directory, report).added == 3_000
    assert directory.local("org-2999") == validate(records[-1])
