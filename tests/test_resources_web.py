"""`/resources` and `/api/v1/resources`: public resources only, searchable, escaped, with JSON
errors for unusable parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bots.resources.web import resources_routes
from core.pages import page_routes, setup_pages
from tests.resources_helpers import Shelf, link, remote, shelf


@pytest.fixture
async def site() -> AsyncIterator[tuple[Shelf, TestClient]]:
    s = shelf()
    s.library.share(
        link("https://example.org/guide", "Mentoring guide", public=True, tags=("mentoring",))
    )
    s.library.share(link("https://example.org/secret", "Internal notes about Ana"))
    s.catalogue.mirror(
        remote(
            "$b1",
            "<script>alert(1)</script>Leitfaden",
            "https://b.example/leitfaden",
            description='"><img src=x onerror=alert(1)>',
            language="de",
            tags=("mentoring", "erste-schritte"),
        )
    )
    s.catalogue.mirror(
        remote(
            "$b2",
            "File from B",
            "mxc://b.example/abc",
            url=None,
            mxc="mxc://b.example/abc",
            filename="abc.pdf",
        )
    )
    application = web.Application()
    setup_pages(application)
    application.router.add_routes([*page_routes(), *resources_routes(s.catalogue)])
    async with TestClient(TestServer(application)) as client:
        yield s, client


async def test_the_api_serves_public_resources_only(site) -> None:
    _, client = site
    response = await client.get("/api/v1/resources")
    assert response.status == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    body = await response.json()
    titles = {item["title"] for item in body["contents"]}
    assert titles == {"Mentoring guide", "<script>alert(1)</script>Leitfaden", "File from B"}
    assert body["total_items"] == 3 and body["page_number"] == 1 and body["last_page"]
    assert "Ana" not in await response.text() and "sender" not in await response.text()
    found = await (await client.get("/api/v1/resources?q=leitfaden&lang=de")).json()
    [item] = found["contents"]
    assert item["sources"][0]["network"] == "Network B" and item["url"].startswith("https://")
    tagged = await (await client.get("/api/v1/resources?tag=mentoring&per_page=1")).json()
    assert tagged["total_items"] == 2 and tagged["size"] == 1 and not tagged["last_page"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("lang=klingon", "lang"),
        ("tag=%3Cscript%3E", "tag"),
        ("page=0", "page"),
        ("per_page=1000", "per_page"),
        ("q=a&q=b", "q"),
        ("q=%00", "q"),
        ("q=" + "x" * 201, "q"),
    ],
)
async def test_unusable_parameters_get_a_json_400(site, query: str, parameter: str) -> None:
    _, client = site
    response = await client.get(f"/api/v1/resources?{query}")
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "bad_parameter" and error["parameter"] == parameter
    page = await client.get(f"/resources?{query}")
    assert page.status == 400 and "Please check the search" in await page.text()


async def test_the_page_escapes_everything_and_links_only_web_addresses(site) -> None:
    _, client = site
    response = await client.get("/resources", headers={"Accept-Language": "de"})
    assert (
        response.status == 200 and "script-src" not in response.headers["Content-Security-Policy"]
    )
    page = await response.text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;Leitfaden" in page
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert '<a href="https://example.org/guide">Mentoring guide</a>' in page
    assert "<code>abc.pdf</code>" in page and "mxc:" not in page  # a file by its name
    assert "Materialien gefunden" in page and "Internal notes" not in page
    found = await (await client.get("/resources?q=guide&hl=en")).text()
    assert "1 resource found" in found and "Leitfaden" not in found
    french = await client.get("/resources?q=guide", headers={"Accept-Language": "fr-BE"})
    page = await french.text()
    assert '<html lang="fr">' in page and "1 ressource trouvée" in page


async def test_the_page_links_home_and_to_the_directory_and_uses_the_shared_css(site) -> None:
    _, client = site
    page = await (await client.get("/resources?q=guide")).text()
    assert 'href="/"' in page and 'href="/directory"' in page
    assert '<a href="/resources" aria-current="page">Resources</a>' in page
    assert '<link rel="stylesheet" href="/static/mentornet.css">' in page and "<style" not in page
    assert "<mark>guide</mark>" in page  # the searched word is marked in the title
    css = await client.get("/static/mentornet.css")
    assert css.status == 200 and css.content_type == "text/css"
    home = await (await client.get("/", headers={"Accept-Language": "nl"})).text()
    assert '<html lang="nl">' in home and 'href="/resources"' in home
    assert 'href="/directory"' not in home.split("<main", 1)[1]  # only what this site serves
