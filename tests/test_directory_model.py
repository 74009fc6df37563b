"""The organisation record: validation messages, stable ids, published form, hostile text."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from directory.codes import COUNTRIES, LANGUAGES
from directory.hsds import (
    RecordError,
    from_dict,
    from_published,
    to_dict,
    to_published,
    validate,
)

HOSTILE = {
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "sql": "Robert'); DROP TABLE directory_listings;--",
    "emoji": "Mentoring 🤝🏽 für alle 👩‍👩‍👧‍👦",
    "rtl": "مرشدون للاجئين \u202eevil\u202c עזרה",
    "long": "Ä lot of text. " * 700,  # about 10 kB
}


def full_record(**changes: Any) -> dict[str, Any]:
    record = {
        "id": "org-1",
        "name": "Hefboom",
        "alternate_name": "Hefboom vzw",
        "description": "Social finance and consulting.\nSecond line.",
        "email": "info@hefboom.be",
        "website": "https://www.hefboom.be",
        "legal_status": "vzw",
        "year_incorporated": 1985,
        "languages": ["nl"],
        "services": [
            {
                "id": "svc-1",
                "name": "MeMoRe Flanders",
                "description": "Mentoring to work",
                "eligibility_description": "Refugees looking for work",
                "target_groups": ["refugees", "migrants"],
                "languages": ["nl", "fr"],
                "fees_description": "free",
            }
        ],
        "locations": [
            {
                "id": "loc-1",
                "address_1": "Rue Royale 1",
                "city": "Brussels",
                "postal_code": "1000",
                "country": "BE",
                "latitude": 50.85,
                "longitude": 4.35,
            }
        ],
        "phones": [{"number": "+32 2 123 45 67", "description": "office"}],
        "contacts": [{"name": "Ana Example", "title": "Coordinator", "email": "ana@hefboom.be"}],
    }
    record.update(changes)
    return record


def errors_of(record: Any) -> list[str]:
    with pytest.raises(RecordError) as caught:
        validate(record)
    return [str(error) for error in caught.value.errors]


def test_a_full_record_validates_and_keeps_every_field() -> None:
    org = validate(full_record())
    record = to_dict(org)
    flat = full_record(languages=["nl", "fr"])
    for key in ("id", "name", "alternate_name", "description", "email", "website"):
        assert record[key] == flat[key]
    assert (record["year_incorporated"], record["legal_status"]) == (1985, "vzw")
    assert record["languages"] == ["nl", "fr"]
    (service,) = record["services"]
    assert service == {
        **flat["services"][0],
        "status": "active",
        "languages": [{"id": ANY, "code": "nl"}, {"id": ANY, "code": "fr"}],
    }
    (location,) = record["locations"]
    assert location == {
        "id": "loc-1",
        "location_type": "physical",
        "latitude": 50.85,
        "longitude": 4.35,
        "addresses": [
            {
                "id": ANY,
                "address_1": "Rue Royale 1",
                "city": "Brussels",
                "postal_code": "1000",
                "country": "BE",
            }
        ],
    }
    assert record["phones"] == [{"id": ANY, **flat["phones"][0]}]
    assert record["contacts"] == [{"id": ANY, **flat["contacts"][0]}]
    assert from_dict(to_dict(org)) == org
    assert validate(record) == org


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "  "}, "name: missing"),
        ({"email": "info@"}, "email: not an e-mail address"),
        ({"website": "javascript:alert(1)"}, "website: not a web address (http or https)"),
        ({"website": "data:text/html,<b>x</b>"}, "website: not a web address (http or https)"),
        ({"website": "ftp://example.org"}, "website: not a web address (http or https)"),
        ({"website": "https://user@example.org"}, "website: not a web address (http or https)"),
        ({"year_incorporated": "about 1990"}, "year_incorporated: not a year between 1000 and"),
        (
            {"locations": [{"country": "XX"}]},
            'locations[0].country: "XX" is not an ISO 3166-1 country code',
        ),
        (
            {"locations": [{"country": "UK"}]},
            'locations[0].country: "UK" is not an ISO 3166-1 country code (did you mean GB?)',
        ),
        (
            {"locations": [{"city": "Gent", "latitude": 91, "longitude": 3}]},
            "locations[0].latitude: not a number between -90 and 90",
        ),
        ({"locations": [{}]}, "locations[0]: empty"),
        (
            {"services": [{"name": "x", "languages": ["de", "german"]}]},
            'services[0].languages[1]: "german" is not an ISO 639-1 language code',
        ),
        ({"services": [{"description": "no name"}]}, "services[0].name: missing"),
        ({"phones": [{"number": "call us"}]}, "phones[0].number: not a phone number"),
        (
            {"contacts": [{"title": "only a title", "email": "nope"}]},
            "contacts[0].email: not an e-mail address",
        ),
        ({"name": "two\nlines"}, "name: must be on one line"),
        ({"description": "bell\x07"}, "description: contains control characters"),
        ({"description": "half a pair \ud800"}, "description: not valid Unicode text"),
        ({"name": ["a list"]}, "name: must be text"),
        ({"services": "mentoring"}, "services: must be a list"),
    ],
)
def test_each_bad_field_gets_one_clear_message(changes: dict[str, Any], message: str) -> None:
    found = errors_of(full_record(**changes))
    assert len(found) == 1, found
    assert found[0].startswith(message)


def test_every_bad_field_is_reported_at_once() -> None:
    found = errors_of(
        {
            "website": "javascript:void(0)",
            "email": "x",
            "locations": [{"country": "XX"}, {"country": "ZZ"}],
        }
    )
    assert [error.split(":")[0] for error in found] == [
        "name",
        "email",
        "website",
        "locations[0].country",
        "locations[1].country",
    ]


def test_lenient_input_is_normalised() -> None:
    org = validate(
        {
            "name": " Hefboom ",
            "url": "www.hefboom.be",
            "locations": [{"country": "be", "latitude": "50,85", "longitude": "4,35"}],
            "services": [{"name": "S", "languages": "NL, fr", "fees": "free"}],
            "year_incorporated": "1985",
        }
    )
    assert (org.name, org.website, org.year_incorporated) == (
        "Hefboom",
        "https://www.hefboom.be",
        1985,
    )
    assert (org.locations[0].country, org.locations[0].latitude) == ("BE", 50.85)
    assert org.services[0].language_codes == ("nl", "fr")
    assert org.services[0].fees_description == "free"


def test_hsds3_language_objects_and_nested_addresses_are_read() -> None:
    org = validate(
        {
            "name": "X",
            "services": [{"name": "S", "languages": [{"code": "de", "name": "German"}]}],
            "locations": [{"addresses": [{"address_1": "Weg 1", "city": "Kiel", "country": "DE"}]}],
        }
    )
    assert org.languages == ("de",)
    assert (org.locations[0].city, org.locations[0].country) == ("Kiel", "DE")


def test_records_without_ids_get_stable_ids() -> None:
    record = {"name": "DUO for a JOB", "locations": [{"city": "Brussels", "country": "BE"}]}
    first, again = validate(record), validate(dict(record))
    assert first.id == again.id
    assert first.services == () and first.locations[0].id == again.locations[0].id
    elsewhere = validate({**record, "locations": [{"city": "Liège", "country": "BE"}]})
    assert elsewhere.id != first.id
    same_site = validate({"name": "Other name", "website": "http://hefboom.be/"})
    assert same_site.id == validate({"name": "Hefboom", "website": "https://www.hefboom.be"}).id


def test_dedupe_key_ignores_scheme_www_case_and_trailing_slash() -> None:
    a = validate({"name": "A", "website": "https://www.Example.org/Mentoring/"})
    b = validate({"name": "B", "website": "http://example.org/mentoring"})
    assert a.dedupe_key == b.dedupe_key == "web:example.org/mentoring"
    c = validate({"name": "Verikom", "locations": [{"city": "Hamburg"}]})
    d = validate({"name": "VERIKOM ", "locations": [{"city": "hamburg"}]})
    assert c.dedupe_key == d.dedupe_key == "name:verikom|hamburg"


def test_organisation_languages_are_its_own_and_its_services() -> None:
    org = validate(full_record())
    assert org.languages == ("nl", "fr")


def test_published_content_has_no_contacts_and_reads_back() -> None:
    org = validate(full_record())
    content = to_published(org)
    assert content["schema_version"] == 1
    assert "contacts" not in content["organization"]
    back = from_published(content, "org-1")
    assert back.contacts == () and back.services == org.services and back.name == org.name


def test_contacts_sent_by_another_network_are_dropped() -> None:
    content = {"schema_version": 1, "organization": full_record()}
    assert from_published(content).contacts == ()


def test_published_content_is_checked() -> None:
    record = full_record()
    with pytest.raises(RecordError, match="schema_version: 2 is not supported"):
        from_published({"schema_version": 2, "organization": record})
    with pytest.raises(RecordError, match="differs from the state key"):
        from_published({"schema_version": 1, "organization": record}, "another-id")
    without_id = {key: value for key, value in record.items() if key != "id"}
    assert from_published({"schema_version": 1, "organization": without_id}, "sk").id == "sk"


def test_a_record_too_large_for_a_matrix_event_is_refused() -> None:
    services = [{"name": f"S{i}", "description": "x" * 19_000} for i in range(4)]
    assert errors_of({"name": "Big", "services": services})[0].startswith(
        "record: too large to publish"
    )


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_text_is_kept_exactly(kind: str) -> None:
    text = HOSTILE[kind]
    single_line = text.strip() if len(text) <= 300 else "name"
    org = validate(full_record(name=single_line, description=text))
    assert org.description == text
    assert org.name == single_line
    assert from_published(to_published(org)).description == text


def test_code_lists_are_complete() -> None:
    assert len(COUNTRIES) == 249 and {"BE", "DE", "GB", "AX", "SS"} <= COUNTRIES
    assert "XK" not in COUNTRIES and "UK" not in COUNTRIES
    assert len(LANGUAGES) == 183 and {"de", "en", "ar", "fa", "uk"} <= LANGUAGES
