"""The JSON API by the HSDS 3.0 API reference, through a running bot's web listener: every
kind of answer validates against the official compiled schemas, services are paged and
filtered with the reference's parameters, and no data about people is ever served."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from devtools.homeserver import LocalSynapse
from directory.hsds import Organization, to_published, validate
from directory.io import import_records
from directory.store import Provenance
from tests.bots import RunningBot
from tests.hsds_material import hsds_material
from tests.test_directory_web import Site, dir_bot

SCHEMA = hsds_material() / "schema"
EXAMPLES = hsds_material() / "examples"
ROOM = "!dir-api:a.example"
OURS = [
    {
        "name": "Patenschaften Köln",
        "description": "Patenschaften für Geflüchtete",
        "website": "https://paten-koeln.example",
        "languages": "de",
        "locations": [
            {
                "address_1": "Domplatz 1",
                "city": "Köln",
                "country": "DE",
                "latitude": 50.94,
                "longitude": 6.96,
            }
        ],
        "services": [
            {"name": "Patenschaft", "target_groups": ["Geflüchtete"], "languages": ["de", "ar"]},
            {"name": "Sprachcafé", "languages": "de"},
        ],
        "contacts": [{"name": "Petra Private", "email": "petra@paten-koeln.example"}],
    },
    {
        "name": "Online Mentors",
        "locations": [{"location_type": "virtual", "url": "https://online-mentors.example"}],
        "services": [{"name": "Video mentoring", "status": "active"}],
    },
]


def official(name: str) -> jsonschema.Draft202012Validator:
    """A validator of an official schema (`compiled/service.json`, `taxonomy.json`…)."""
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text()), DRAFT202012))
        for path in SCHEMA.glob("*.json")
    ]
    schema = json.loads((SCHEMA / name).read_text())
    return jsonschema.Draft202012Validator(
        schema,
        registry=Registry().with_resources(resources),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def official_page(item: str) -> jsonschema.Draft202012Validator:
    """A validator of a page of the HSDS API whose contents are `item`s."""
    reference = json.loads((SCHEMA / "openapi.json").read_text())
    schema = {
        "allOf": [reference["components"]["schemas"]["Page"]],
        "required": ["total_items", "total_pages", "page_number", "size", "first_page",
                     "last_page", "empty", "contents"],
        "properties": {"contents": {"type": "array", "items": {"$ref": item}}},
    }  # fmt: skip
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text()), DRAFT202012))
        for path in [*SCHEMA.glob("*.json"), *SCHEMA.glob("compiled/*.json")]
        if path.name != "openapi.json"
    ]
    resources += [
        (f"compiled/{path.name}", Resource.from_contents(json.loads(path.read_text()), DRAFT202012))
        for path in SCHEMA.glob("compiled/*.json")
    ]
    return jsonschema.Draft202012Validator(
        schema,
        registry=Registry().with_resources(resources),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


@pytest.fixture(scope="module")
async def api(
    synapse: LocalSynapse, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    """One running bot whose directory lists the official example and two of ours."""
    localpart, password = f"mentornet-api-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    user_id = await synapse.register(localpart, password)
    bot = RunningBot(synapse, user_id, password, tmp_path_factory.mktemp("api"))
    try:
        await bot.start()
        example = (EXAMPLES / "organization_full.json").read_bytes()
        orgs = import_records(example, "organization_full.json").organizations
        orgs += [validate(record) for record in OURS]
        listings = [
            (org.id, to_published(org), Provenance("Net A", "a.example", ROOM, f"$a{n}", "@e:a", n))
            for n, org in enumerate(orgs)
        ]
        assert dir_bot(bot).directory.apply_listings(ROOM, listings) == {}
        async with aiohttp.ClientSession() as session:
            yield Site(bot, session)
    finally:
        await bot.stop()


def ids_of(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["contents"]]


async def test_every_kind_of_answer_validates_against_the_official_schemas(api: Site) -> None:
    reference = json.loads((SCHEMA / "openapi.json").read_text())
    about = reference["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]
    jsonschema.validate(await api.api("/api/v1/"), about["schema"])
    checks = [
        ("/api/v1/organizations", {}, official_page("compiled/organization_list.json")),
        ("/api/v1/organizations", {"full": "true"}, official_page("compiled/organization.json")),
        ("/api/v1/services", {}, official_page("compiled/service_list.json")),
        ("/api/v1/services", {"full": "true"}, official_page("compiled/service.json")),
        (
            "/api/v1/service_at_locations",
            {},
            official_page("compiled/service_at_location_list.json"),
        ),
        ("/api/v1/taxonomies", {}, official_page("taxonomy.json")),
        ("/api/v1/taxonomy_terms", {}, official_page("taxonomy_term.json")),
    ]
    singles = {
        "/api/v1/organizations": official("compiled/organization.json"),
        "/api/v1/services": official("compiled/service.json"),
        "/api/v1/service_at_locations": official("compiled/service_at_location.json"),
        "/api/v1/taxonomies": official("taxonomy.json"),
        "/api/v1/taxonomy_terms": official("taxonomy_term.json"),
    }
    expected = {"organizations": 3, "services": 4, "service_at_locations": 1, "taxonomies": 1}
    for path, params, validator in checks:
        page = await api.api(path, **params)
        validator.validate(page)
        kind = path.rsplit("/", 1)[1]
        assert page["total_items"] == expected.get(kind, 1) == len(page["contents"]), path
        for item_id in ids_of(page):
            singles[path].validate(await api.api(f"{path}/{item_id}"))
    with pytest.raises(jsonschema.ValidationError):  # the schemas do check
        singles["/api/v1/services"].validate({"id": "x", "name": "no status"})


async def test_services_are_paged_and_filtered_by_the_reference(api: Site) -> None:
    seen = []
    for number in (1, 2):
        page = await api.api("/api/v1/services", per_page="2", page=str(number))
        assert (page["total_items"], page["total_pages"], page["page_number"]) == (4, 2, number)
        assert page["first_page"] is (number == 1) and page["last_page"] is (number == 2)
        seen += ids_of(page)
    assert len(set(seen)) == 4
    cologne = validate(OURS[0])
    mine = await api.api("/api/v1/services", organization_id=cologne.id)
    assert [item["name"] for item in mine["contents"]] == ["Patenschaft", "Sprachcafé"]
    first = mine["contents"][0]
    assert first["organization"]["name"] == "Patenschaften Köln"
    assert first["target_groups"] == ["Geflüchtete"]
    assert [language["code"] for language in first["languages"]] == ["de", "ar"]
    found = await api.api("/api/v1/services", search="counselling")
    assert [item["name"] for item in found["contents"]] == ["Community Counselling"]
    (term,) = (await api.api("/api/v1/taxonomy_terms"))["contents"]
    tagged = await api.api("/api/v1/services", taxonomy_term_id=term["id"])
    assert [item["name"] for item in tagged["contents"]] == ["Community Counselling"]
    german = await api.api("/api/v1/services", lang="de", per_page="10")
    assert {item["name"] for item in german["contents"]} == {"Patenschaft", "Sprachcafé"}
    full = await api.api(f"/api/v1/services/{first['id']}")
    assert full["organization"]["id"] == cologne.id and full["status"] == "active"
    for params in ({"postcode": "1000"}, {"full": "maybe"}, {"format": "ndjson"}):
        refused = await api.api("/api/v1/services", status=400, **params)
        assert refused["error"]["parameter"] == next(iter(params))
    missing = await api.api("/api/v1/services/no-such-service", status=404)
    assert missing["error"]["code"] == "not_found"


async def test_organisations_carry_their_sources_and_a_virtual_place(api: Site) -> None:
    online = validate(OURS[1])
    item = await api.api(f"/api/v1/organizations/{online.id}")
    assert item["locations"][0]["location_type"] == "virtual"
    assert item["locations"][0]["url"] == "https://online-mentors.example"
    assert item["sources"][0]["network"] == "Net A" and item["sources"][0]["room_id"] == ROOM
    cologne = await api.api(f"/api/v1/organizations/{validate(OURS[0]).id}")
    assert cologne["locations"][0]["latitude"] == 50.94  # a number, not the event's string
    assert cologne["languages"] == ["de", "ar"]


async def test_an_organisation_listed_by_two_networks_is_served_merged(api: Site) -> None:
    """Another network lists the Cologne organisation too, with one more service and an
    e-mail address: the API serves one organisation with both, and finds the new service."""
    cologne = validate(OURS[0])
    other = validate(
        {
            "name": "Patenschaften Köln e.V.",
            "website": "https://paten-koeln.example",
            "email": "info@paten-koeln.example",
            "services": [{"name": "Bewerbungshilfe"}],
        }
    )
    room = "!dir-api-b:b.example"
    listing = Provenance("Net B", "b.example", room, "$b1", "@e:b", 99)
    api.directory.apply_listing(room, other.id, to_published(other), listing)
    try:
        mine = await api.api("/api/v1/services", organization_id=cologne.id)
        names = [item["name"] for item in mine["contents"]]
        assert names == ["Patenschaft", "Sprachcafé", "Bewerbungshilfe"]
        item = await api.api(f"/api/v1/organizations/{cologne.id}")
        assert (item["name"], item["email"]) == ("Patenschaften Köln", "info@paten-koeln.example")
        assert [source["network"] for source in item["sources"]] == ["Net A", "Net B"]
        found = (await api.api("/api/v1/services", search="Bewerbungshilfe"))["contents"]
        assert {item["organization"]["id"] for item in found} == {cologne.id}
        (new,) = [item for item in found if item["name"] == "Bewerbungshilfe"]
        official("compiled/service.json").validate(await api.api(f"/api/v1/services/{new['id']}"))
    finally:
        gone = Provenance("Net B", "b.example", room, "$b2", "@e:b", 100)
        api.directory.apply_listing(room, other.id, {}, gone)
    names = [
        i["name"]
        for i in (await api.api("/api/v1/services", organization_id=cologne.id))["contents"]
    ]
    assert names == ["Patenschaft", "Sprachcafé"]


async def test_no_data_about_people_is_served(api: Site) -> None:
    answers = [await api.get(path) for path in ("/api/v1/organizations?full=true",
               "/api/v1/services?full=true", "/api/v1/service_at_locations?full=true")]  # fmt: skip
    for org_id in ids_of(await api.api("/api/v1/organizations")):
        answers.append(await api.get(f"/api/v1/organizations/{org_id}"))
    text = " ".join(body for _, body, _ in answers)
    for private in ("Petra Private", "petra@", "Ann Persona", "A. Persona", '"contacts"', "@e:a"):
        assert private not in text


async def test_openapi_schemas_are_the_models(api: Site) -> None:
    document = await api.api("/api/v1/openapi.json")
    organization = document["components"]["schemas"]["Organization"]["properties"]
    assert set(organization) == (set(Organization.model_fields) - {"contacts"}) | {"sources"}
    service = document["components"]["schemas"]["Service"]
    assert {"target_groups", "status", "languages"} <= set(service["properties"])
    assert {"id", "name", "status"} <= set(service["required"])
