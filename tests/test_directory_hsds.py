"""HSDS 3.0 as the field produces it: the official examples and data package import, bad
optional fields are left out with a warning, every field survives import and export, the
event codec, and the CSV columns and chat options derived from the record models."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.canonical import canonical_problem
from core.storage import open_store
from directory.bot import EDIT_FIELDS, _apply_fields
from directory.hsds import (
    Organization,
    RecordError,
    from_published,
    scalar_fields,
    to_dict,
    to_published,
    validate,
    walk,
)
from directory.io import (
    CSV_COLUMNS,
    ORG_COLUMNS,
    export_records,
    import_path,
    import_records,
    save_import,
)
from directory.store import Directory, Provenance
from tests.hsds_material import hsds_material
from tests.test_directory_io import problems

EXAMPLES = hsds_material() / "examples"


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Directory]:
    store = open_store(tmp_path / "m.db")
    yield Directory(store)
    store.close()


NAME = "Example Organization Inc."
# The official examples that hold an organisation (as itself, in a page, or around a service).
ORGANISATION_EXAMPLES = [
    "organization_full.json",
    "organization_list.json",
    "service_full.json",
    "service_list.json",
    "service_at_location_full.json",
    "service_at_location_list.json",
    "tabular.json",
]


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of a JSON value by its path: `services[0].languages[0].code` → "ur"."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in leaves(item, f"{path}.{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in leaves(item, f"{path}[{i}]").items()
        }
    return {path.lstrip("."): value}


@pytest.mark.parametrize("name", ORGANISATION_EXAMPLES)
def test_every_official_example_imports(name: str) -> None:
    report = import_records((EXAMPLES / name).read_bytes(), name)
    assert report.ok, problems(report)
    assert [org.name for org in report.organizations] == [NAME]
    org = report.organizations[0]
    if name != "organization_list.json":  # a page of organisations without their services
        assert [service.name for service in org.services] == ["Community Counselling"]


def test_the_official_data_package_imports_from_a_folder_and_a_zip(directory: Directory) -> None:
    folder = import_path(EXAMPLES / "csv")
    assert folder.ok, problems(folder)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for file in (EXAMPLES / "csv").iterdir():
            archive.write(file, f"hsds/{file.name}")
    zipped = import_records(packed.getvalue(), "hsds-export.zip")
    assert zipped.ok and zipped.organizations == folder.organizations

    (org,) = folder.organizations
    record = to_dict(org)
    (service,) = record["services"]
    assert service["name"] == "Community Counselling" and service["minimum_age"] == 12
    assert [item["code"] for item in service["languages"]] == ["ur"]
    assert service["schedules"][0]["byday"] == "TH,FR"
    assert service["service_areas"][0]["name"] and service["cost_options"][0]["amount"] == 35
    assert service["required_documents"] and service["funding"]
    assert service["service_at_locations"][0]["location_id"] == org.locations[0].id
    assert record["programs"][0]["name"] == "Community Mental Health Support"
    assert record["organization_identifiers"][0]["identifier"] == "1234567"
    assert record["phones"][0]["number"] == "+44 1234 234567"  # its quotes taken off
    (location,) = record["locations"]
    assert location["name"] == "MyCity Civic Center" and location["accessibility"]
    assert location["addresses"][0]["city"] == "MyCity" and org.city == "MyCity"
    assert "latitude" not in location  # 100 is no latitude: left out, with a warning
    assert folder.warnings == [
        "line 2: organizations.csv: locations[0].latitude: not a number between -90 and 90"
        " (left out)",
        "line 2: organizations.csv: locations[0].longitude: latitude and longitude go together"
        " (left out)",
    ]
    assert save_import(directory, folder).added == 1


def test_what_is_no_organisation_is_refused_in_one_line() -> None:
    for name, kind in (("location.json", "a location"), ("taxonomy.json", "a taxonomy")):
        report = import_records((EXAMPLES / name).read_bytes(), name)
        assert problems(report) == [f"line 1, record 1: {kind}, not an organisation"]


def test_import_then_export_gives_back_every_field() -> None:
    given = json.loads((EXAMPLES / "organization_full.json").read_text())
    report = import_records(json.dumps(given).encode(), "organization_full.json")
    left_out = {warning.split(": ")[1] for warning in report.warnings}
    assert left_out == {
        "locations[0].latitude",
        "locations[0].longitude",
        "services[0].service_at_locations[0].location.latitude",
        "services[0].service_at_locations[0].location.longitude",
    }
    (exported,) = json.loads(export_records(report.organizations, "json"))["organizations"]
    before, after = leaves(given), leaves(exported)
    missing = {path for path in before if path not in after} - left_out
    assert missing == set()
    changed = {path for path, value in before.items() if path in after and after[path] != value}
    assert all(path.endswith(".number") for path in changed), changed  # only quotes taken off
    assert after["contacts[0].name"] == "Ann Persona"  # our own export keeps contacts
    again = import_records(export_records(report.organizations, "json"), "again.json")
    assert again.ok and again.warnings == [] and again.organizations == report.organizations


def test_a_bad_optional_field_is_left_out_with_a_warning_and_the_record_kept(
    directory: Directory,
) -> None:
    records = [
        {"name": "Fine"},
        {
            "name": "Partly wrong",
            "email": "not-an-address",
            "services": [
                {"name": "Mentoring", "languages": ["de", "klingon"]},
                {"description": "a service without a name"},
            ],
            "phones": [{"number": "call us"}, {"number": "+49 40 123"}],
            "locations": [{"city": "Hamburg", "country": "DE", "latitude": 91, "longitude": 10}],
        },
    ]
    report = import_records(json.dumps(records, indent=1).encode(), "x.json")
    assert report.ok
    assert report.warnings == [
        "line 5, record 2: email: not an e-mail address (left out)",
        "line 5, record 2: phones[0].number: not a phone number (digits, spaces, + ( ) - . /)"
        " (left out)",
        "line 5, record 2: locations[0].latitude: not a number between -90 and 90 (left out)",
        'line 5, record 2: services[0].languages[1]: "klingon" is not an ISO 639-1 language'
        " code (two letters, e.g. de) (left out)",
        "line 5, record 2: services[1].name: missing (left out)",
        "line 5, record 2: locations[0].longitude: latitude and longitude go together (left out)",
    ]
    org = report.organizations[1]
    assert org.email is None and [phone.number for phone in org.phones] == ["+49 40 123"]
    assert [service.name for service in org.services] == ["Mentoring"]
    assert org.services[0].language_codes == ("de",) and org.city == "Hamburg"

    refused = import_records(json.dumps([*records, {"email": "x@y.example"}]).encode(), "y.json")
    assert problems(refused) == ["line 1, record 3: name: missing"]
    assert directory.local_all() == []


def test_a_virtual_location_is_valid() -> None:
    online = validate(
        {
            "name": "Online Mentors",
            "locations": [{"location_type": "virtual", "url": "mentors.example"}],
        }
    )
    (location,) = online.locations
    assert (location.location_type, location.url, location.city) == (
        "virtual",
        "https://mentors.example",
        None,
    )
    assert validate({"name": "O", "locations": [{"location_type": "virtual"}]}).locations
    assert (
        validate({"name": "O", "locations": [{"url": "https://o.example"}]})
        .locations[0]
        .location_type
        == "virtual"
    )
    with pytest.raises(RecordError, match=r"locations\[0\]: empty"):
        validate({"name": "O", "locations": [{"location_type": "physical"}]})


def test_events_carry_decimals_as_strings_and_no_contacts() -> None:
    (org,) = import_records(
        (EXAMPLES / "organization_full.json").read_bytes(), "x.json"
    ).organizations
    org = validate(
        to_dict(org)
        | {"locations": [{"city": "Gent", "country": "BE", "latitude": 51.05, "longitude": 3.72}]}
    )
    content = to_published(org)
    published = content["organization"]
    assert published["locations"][0]["latitude"] == "51.05"
    assert not [value for _, value in walk(content) if isinstance(value, float)]
    assert "contacts" not in {key for key, _ in walk(content)}  # at any depth
    assert "Ann Persona" not in json.dumps(content)
    assert to_dict(org)["services"][0]["contacts"][0]["name"] == "Ann Persona"  # kept locally
    back = from_published(content, org.id)
    assert (
        back.locations[0].latitude == 51.05 and to_dict(back)["locations"][0]["latitude"] == 51.05
    )
    as_numbers = json.loads(json.dumps(content).replace('"51.05"', "51.05"))
    assert from_published(as_numbers, org.id).locations[0].latitude == 51.05
    assert back.services[0].contacts == () and back.contacts == ()


def test_a_value_no_homeserver_takes_is_refused_or_left_out_never_reported_added(
    directory: Directory,
) -> None:
    """An integer beyond what Matrix events carry cannot be published: `validate` names the
    field, an import leaves it out with a warning and what it saves publishes."""
    huge = {"name": "Big Numbers", "services": [{"name": "Tandem", "minimum_age": 2**60}]}
    with pytest.raises(RecordError, match=r"services\[0\]\.minimum_age: cannot be published"):
        validate(huge)
    report = import_records(json.dumps([huge]).encode(), "x.json")
    assert report.ok and len(report.warnings) == 1
    assert "services[0].minimum_age: cannot be published" in report.warnings[0]
    assert save_import(directory, report).added == 1
    (org,) = report.organizations
    assert org.services[0].name == "Tandem" and org.services[0].minimum_age is None
    assert canonical_problem(to_published(org)) is None


def test_csv_columns_and_chat_options_come_from_the_model() -> None:
    own = set(scalar_fields(Organization))
    assert own <= set(ORG_COLUMNS) and own <= set(CSV_COLUMNS)
    targets = {path[0] for path in EDIT_FIELDS.values()}
    assert own - {"id", "parent_organization_id"} <= targets
    record = _apply_fields(
        {}, {"name": "Kiron", "city": "Berlin", "tax_status": "exempt", "service": "MOOCs"}
    )
    org = validate(record)
    assert (org.city, org.services[0].name, to_dict(org)["tax_status"]) == (
        "Berlin",
        "MOOCs",
        "exempt",
    )
    rows = export_records([org], "csv").decode().splitlines()
    again = import_records("\n".join(rows).encode(), "x.csv")
    assert again.ok and again.organizations == [org]


def test_material_is_found_from_this_checkout() -> None:
    assert (hsds_material() / "schema" / "openapi.json").is_file()
    assert Path(__file__).resolve().is_relative_to(hsds_material().parent.parent)


def test_far_pages_of_services_are_the_same_as_counted_from_the_start(
    directory: Directory,
) -> None:
    from types import SimpleNamespace

    import directory.api as api_module

    records = [
        {"name": f"Org {n}", "website": f"https://o{n}.example", "services": [
            {"name": f"Mentoring {n}"}, {"name": f"Buddies {n}"}, {"name": f"Café {n}"}]}
        for n in range(400)
    ]  # fmt: skip
    listings = [
        (org.id, to_published(org), Provenance("N", "x", "!r:x", f"$e{n}", "@a:x", n))
        for n, org in enumerate(validate(record) for record in records)
    ]
    assert directory.apply_listings("!r:x", listings) == {}
    api = api_module.DirectoryApi(directory, SimpleNamespace(web=SimpleNamespace(public_url="")))

    def names(page: int, size: int) -> list[str]:
        params = api_module.parse_params({"per_page": str(size), "page": str(page)})
        return [item["name"] for item in api.list_entities("service", params)["contents"]]

    walked = [name for page in range(1, 14) for name in names(page, 100)]
    assert len(walked) == len(set(walked)) == 1200
    for page, size in ((11, 100), (12, 100), (101, 10), (120, 10), (39, 31)):
        assert names(page, size) == walked[(page - 1) * size : page * size]
