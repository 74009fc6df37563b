"""The directory on the web, through a running bot's web listener: the search page, a page
per organisation, the chart, the JSON API with its OpenAPI description, and their safety
(escaping, only http(s) links, CSP, no personal data)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from core.pages import mark, search_words, standalone_environment
from devtools.homeserver import LocalSynapse
from directory.bot import DirectoryBot
from directory.hsds import RecordError, fold, to_published, validate
from directory.store import Directory, Provenance, SearchPage, ShownOrganization, Source
from directory.web import (
    Query,
    SearchView,
    Ui,
    page_count,
    pick_language,
    safe_href,
    website_link,
)
from tests.bots import RunningBot

NETWORK = "Web Test Network"
ROOM_A, ROOM_B = "!dir-a:a.example", "!dir-b:b.example"
HOSTILE_NAME = '<script>alert("name")</script> Hostile & Co'
HOSTILE_ALTERNATE = '"><svg onload=alert(1)>'
HOSTILE_DESCRIPTION = "<img src=x onerror=alert(1)>\nSecond line & <b>more</b>"


def record(name: str, country: str, city: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "locations": [{"city": city, "country": country}], **more}


RECORDS = [
    *(
        record(
            f"Luxembourg Mentoring {n}",
            "LU",
            "Luxembourg",
            website=f"https://lu{n}.example.org",
            languages="lb,fr",
            services=[{"name": "Mentoring", "target_groups": ["youth"]}],
        )
        for n in range(1, 6)
    ),
    record(
        "Patenschaften Köln",
        "DE",
        "Köln",
        description="Patenschaften für Geflüchtete",
        languages="de",
        services=[{"name": "Patenschaft", "target_groups": ["Geflüchtete"]}],
        email="info@paten-koeln.example",
        year_incorporated=2016,
        phones=[{"number": "+49 221 000000"}],
    ),
    record("Gent Buddies", "BE", "Gent", website="https://gent.example.org", languages="nl,en"),
    record("Brussels Welcome", "BE", "Brussels", languages="fr"),
    record(
        HOSTILE_NAME,
        "FR",
        "Lyon",
        alternate_name=HOSTILE_ALTERNATE,
        description=HOSTILE_DESCRIPTION,
        website="https://hostile.example/?a=1&b=2",
        services=[{"name": "<i>Service</i>", "target_groups": ["<u>group</u>"]}],
    ),
    *(record(f"Malta Org {n:02}", "MT", "Valletta") for n in range(1, 22)),
]


def provenance(room: str, n: int) -> Provenance:
    network, server = ("Network A", "a.example") if room == ROOM_A else ("Network B", "b.example")
    return Provenance(network, server, room, f"$web{n}", f"@editor:{server}", 1_760_000_000_000 + n)


def dir_bot(bot: RunningBot) -> DirectoryBot:
    assert bot.app is not None
    return next(b for b in bot.app.bots if isinstance(b, DirectoryBot))


@pytest.fixture(scope="module")
async def site(
    synapse: LocalSynapse, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    """One running bot for the module, its directory filled as two networks published it."""
    localpart, password = f"mentornet-web-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    user_id = await synapse.register(localpart, password)
    bot = RunningBot(
        synapse,
        user_id,
        password,
        tmp_path_factory.mktemp("web"),
        directory={"network": NETWORK, "editors": ["@webeditor-*"]},  # a configured editor
    )
    try:
        await bot.start()
        fill(dir_bot(bot).directory)
        async with aiohttp.ClientSession() as session:
            yield Site(bot, session)
    finally:
        await bot.stop()


def fill(directory: Directory) -> None:
    listings: dict[str, list[tuple[str, dict[str, Any], Provenance]]] = {ROOM_A: [], ROOM_B: []}
    for n, data in enumerate(RECORDS):
        org = validate(data)
        room = ROOM_B if n == 6 else ROOM_A  # Gent Buddies comes from Network B
        listings[room].append((org.id, to_published(org), provenance(room, n)))
    # Network B lists the first Luxembourg organisation too (same website: one organisation).
    copy = validate({**RECORDS[0], "id": "b-copy"})
    listings[ROOM_B].append((copy.id, to_published(copy), provenance(ROOM_B, 100)))
    for room, items in listings.items():
        assert directory.apply_listings(room, items) == {}


class Site:
    """Requests to the bot's web listener."""

    def __init__(self, bot: RunningBot, session: aiohttp.ClientSession) -> None:
        self.bot, self.session = bot, session
        self.base = f"http://127.0.0.1:{bot.web_port}"

    @property
    def directory(self) -> Directory:
        return dir_bot(self.bot).directory

    async def get(self, path: str, language: str = "en", **params: Any) -> tuple[int, str, Any]:
        headers = {"Accept-Language": language}
        async with self.session.get(self.base + path, params=params, headers=headers) as response:
            return response.status, await response.text(), response.headers

    async def page(self, path: str = "/directory", *, status: int = 200, **params: Any) -> str:
        got, body, headers = await self.get(path, **params)
        assert got == status, body[:2000]
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        check_markup(body)
        return body

    async def api(self, path: str, *, status: int = 200, **params: Any) -> Any:
        got, body, headers = await self.get(path, **params)
        assert got == status, body
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["X-Content-Type-Options"] == "nosniff"
        return json.loads(body)

    async def organizations(self, **params: Any) -> dict[str, Any]:
        return await self.api("/api/v1/organizations", **params)


# --- markup checks -----------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class Markup(HTMLParser):
    """Collects tags, ids, labels, links and the text of a page; records nesting errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.labels: set[str] = set()
        self.controls: list[str] = []
        self.links: list[dict[str, str | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append((tag, values))
        if values.get("id"):
            self.ids.append(values["id"] or "")
        if tag == "label":
            self.labels.add(values.get("for") or "")
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append(values.get("id") or "")
        if tag == "a":
            self.links.append(values)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag of void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.stack or self.stack[-1] not in ("style", "script"):
            self.text.append(data)


def parse(body: str) -> Markup:
    markup = Markup()
    markup.feed(body)
    markup.close()
    return markup


def check_markup(body: str) -> Markup:
    """Well-formed, one <html lang>, unique ids, every control labelled, no script at all,
    and every link either on this site or to an http(s) address."""
    markup = parse(body)
    assert markup.doctype
    assert not markup.errors and not markup.stack, (markup.errors, markup.stack)
    assert len(markup.ids) == len(set(markup.ids)), "duplicate ids"
    assert all(control in markup.labels for control in markup.controls), markup.controls
    html_tags = [attrs for tag, attrs in markup.tags if tag == "html"]
    assert len(html_tags) == 1 and html_tags[0].get("lang") in ("en", "de")
    assert not any(tag in ("script", "iframe", "object", "embed") for tag, _ in markup.tags)
    assert not any(name.startswith("on") for _, attrs in markup.tags for name in attrs), (
        "event handler attribute"
    )
    for link in markup.links:
        target = link.get("href") or ""
        assert target.startswith(("/", "#", "https://", "http://", "mailto:")), target
        if target.startswith("http"):
            assert set((link.get("rel") or "").split()) >= {"nofollow", "noopener"}
    return markup


def visible_text(body: str) -> str:
    return " ".join(" ".join(parse(body).text).split())


def result_names(body: str) -> list[str]:
    """The organisation names in the results list, in order."""
    section = body.split('<ol class="results"', 1)[1].split("</ol>", 1)[0]
    return [
        visible_text(match)
        for match in re.findall(r"<h3><a [^>]*>(.*?)</a></h3>", section, flags=re.DOTALL)
    ]


# --- the search page ---------------------------------------------------------------------------


async def test_search_page_without_query_lists_by_name_with_paging(site: Site) -> None:
    status, body, _ = await site.get("/directory")
    assert status == 200
    check_markup(body)
    assert '<html lang="en">' in body
    text = visible_text(body)
    assert "Find mentoring organisations" in text
    names = result_names(body)
    assert len(names) == 20 and names == sorted(names, key=fold)
    assert "Brussels Welcome" in names and "Gent Buddies" in names
    assert "Page 1 of 2" in text and "Showing 1–20." in text
    second = await site.page(page="2")
    assert len(result_names(second)) == site.directory.stats()["organizations"] - 20
    assert 'rel="prev"' in second
    assert "Page 2 of 2" in visible_text(second)
    async with site.session.get(
        site.base + "/directory/?q=gent", allow_redirects=False
    ) as response:
        assert response.status == 308 and response.headers["Location"] == "/directory?q=gent"


async def test_search_with_text_and_each_filter(site: Site) -> None:
    body = await site.page(q="mentoring", country="LU")
    assert sorted(result_names(body)) == [f"Luxembourg Mentoring {n}" for n in range(1, 6)]
    assert "5 organisations found" in visible_text(body)
    assert 'value="LU" selected' in body and 'value="mentoring"' in body

    assert result_names(await site.page(city="köln")) == ["Patenschaften Köln"]
    assert result_names(await site.page(lang="de")) == ["Patenschaften Köln"]
    assert result_names(await site.page(target_group="gefluchtete")) == ["Patenschaften Köln"]
    assert result_names(await site.page(service="Patenschaft")) == ["Patenschaften Köln"]
    assert sorted(result_names(await site.page(country="be"))) == [
        "Brussels Welcome",
        "Gent Buddies",
    ]
    nothing = await site.page(q="mentoring", country="MT")
    assert "No organisation matches" in visible_text(nothing)
    assert 'class="results"' not in nothing


async def test_result_shows_place_languages_website_and_networks(site: Site) -> None:
    body = await site.page(q="Luxembourg Mentoring 1")
    item = body.split('<ol class="results"', 1)[1].split("</li>", 1)[0]
    text = visible_text(item)
    assert "Luxembourg Mentoring 1" in text
    assert "Place Luxembourg, Luxembourg" in text
    assert "Languages Luxembourgish and French" in text
    assert "Listed by Network A, Network B" in text or "Listed by Network B, Network A" in text
    assert '<a href="https://lu1.example.org" rel="nofollow noopener">' in item
    assert 'href="/directory/org/b-copy"' in item  # the newest listing's id


async def test_bad_filters_on_the_page_are_explained_not_searched(site: Site) -> None:
    body = await site.page(status=400, country="XYZ", q="mentoring")
    text = visible_text(body)
    assert "Please check the search" in text
    assert 'Country: "XYZ" is not a country code' in text
    assert 'aria-invalid="true"' in body and 'class="results"' not in body
    assert 'value="mentoring"' in body  # the form keeps what was asked
    german = await site.get("/directory", language="de", lang="deutsch")
    assert german[0] == 400 and "ist kein Sprachcode" in german[1]
    control = await site.page(status=400, q="men\x00tor")
    assert "\x00" not in control and 'value="mentor"' in control


async def test_page_language_follows_accept_language_and_hl(site: Site) -> None:
    status, body, headers = await site.get("/directory", language="de-AT,de;q=0.9,en;q=0.8")
    assert status == 200 and '<html lang="de">' in body
    assert headers["Content-Language"] == "de" and "Accept-Language" in headers["Vary"]
    text = visible_text(body)
    assert "Mentoring-Organisationen finden" in text and "Organisationen pro Land" in text
    assert "Belgien" in text
    _, english, _ = await site.get("/directory", language="de", hl="en", q="gent")
    assert '<html lang="en">' in english and "Find mentoring organisations" in english
    assert "hl=en" in english.split('class="results"', 1)[1]  # links keep the choice
    _, french, _ = await site.get("/directory", language="fr-FR,fr;q=0.9")
    assert '<html lang="fr">' in french and "Trouver des organisations de mentorat" in french
    assert "Belgique" in french and "Organisations par pays" in french
    for code, name in (
        ("en", "English"),
        ("de", "Deutsch"),
        ("fr", "Français"),
        ("nl", "Nederlands"),
    ):
        assert f'hreflang="{code}" lang="{code}"' in french and f">{name}</a>" in french
    _, dutch, _ = await site.get("/directory", language="nl-BE,nl;q=0.9,en;q=0.5")
    assert '<html lang="nl">' in dutch and "Mentororganisaties vinden" in dutch
    assert "België" in dutch
    _, fallback, _ = await site.get("/directory", language="pl-PL,pl;q=0.9")
    assert '<html lang="en">' in fallback


def test_the_page_language_follows_accept_language() -> None:
    assert pick_language("en-GB;q=0.5, de;q=0.8") == "de"
    assert pick_language("de;q=0, en") == "en"
    assert pick_language(None) == "en"
    assert pick_language("de", "en") == "en" and pick_language("en", "xx") == "en"
    assert pick_language("fr-BE, nl;q=0.8") == "fr" and pick_language("en", "nl") == "nl"


async def test_chart_of_entries_per_country(site: Site) -> None:
    body = await site.page()
    chart = body.split('aria-labelledby="by-country"', 1)[1]
    svg = chart.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    svg_text = visible_text("<svg" + svg + "</svg>")
    for country, count in (("Malta", 21), ("Luxembourg", 5), ("Belgium", 2), ("Germany", 1)):
        assert f"{country} {count}" in svg_text  # a text label per bar
        assert f"{country}: {count}" in svg_text  # and in the description
    rows = re.findall(
        r'<tr><th scope="row"><a href="/directory\?country=(\w\w)">([^<]+)</a></th>'
        r'<td class="number">(\d+)</td></tr>',
        chart,
    )
    table = {code: int(count) for code, _, count in rows}
    assert {"MT": 21, "LU": 5, "BE": 2, "DE": 1, "FR": 1}.items() <= table.items()
    assert list(table.values()) == sorted(table.values(), reverse=True)


async def test_security_headers_and_strict_csp(site: Site) -> None:
    status, body, headers = await site.get("/directory")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src" not in csp  # no script at all, covered by default-src 'none'
    assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "style-src 'self'" in csp and "<style" not in body and "style=" not in body
    assert '<link rel="stylesheet" href="/static/mentornet.css">' in body
    status, style, css_headers = await site.get("/static/mentornet.css")
    assert status == 200 and css_headers["Content-Type"] == "text/css; charset=utf-8"
    assert "details.filters" in style and "mark{" in style  # the one shared stylesheet
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "http://" not in style and "https://" not in style and "@import" not in style
    _, _, api_headers = await site.get("/api/v1/organizations")
    assert api_headers["Cache-Control"] == "public, max-age=60"
    assert "default-src 'none'" in api_headers["Content-Security-Policy"]


def test_a_total_too_large_to_count_is_shown_as_a_lower_bound() -> None:
    """Very broad searches report `more than 10,000`: no last page, a next one while full."""
    source = Source("x", "Network A", "a.example", ROOM_A, "$x", 1)
    items = [
        ShownOrganization(f"o{n}", validate({"name": f"Org {n}", "id": f"o{n}"}), (source,))
        for n in range(20)
    ]
    broad = SearchPage(10_000, items, page=3, per_page=20, exact_total=False)
    assert page_count(broad) == (500, True)
    assert page_count(SearchPage(10_000, items[:5], 3, 20, exact_total=False)) == (500, False)
    stats = {"organizations": 12_345, "by_network": {"Network A": 1}, "by_country": {"DE": 9}}
    view = SearchView(Ui("de", False), Query(text="mentoring"), broad, None, stats)
    body = standalone_environment().get_template("directory.html").render(view.context())
    check_markup(body)
    text = visible_text(body)
    assert "Mehr als 10.000 Organisationen gefunden" in text and "Organisationen: 12.345" in text
    assert "Seite 3" in text and "Seite 3 von" not in text
    assert "Nächste Seite" in text and "Letzte Seite" not in text


# --- the organisation page ---------------------------------------------------------------------


async def test_organisation_page_shows_the_record_and_its_sources(site: Site) -> None:
    org_id = validate(RECORDS[5]).id
    body = await site.page(f"/directory/org/{quote(org_id)}")
    text = visible_text(body)
    assert "<h1>Patenschaften Köln</h1>" in body
    assert "Patenschaften für Geflüchtete" in text
    assert "Place Köln, Germany" in text and "Founded 2016" in text
    assert "Phone +49 221 000000" in text
    assert '<a href="mailto:info@paten-koeln.example">' in body
    assert "Services" in text and "Patenschaft" in text and "Geflüchtete" in text
    assert "Where this entry comes from" in text
    # Who listed it and when, in words; the Matrix ids only in the folded details.
    assert "Listed by Network A on the Matrix server a.example on October 9, 2025." in text
    assert "Network A a.example !dir-a:a.example $web5" in visible_text(folded(body))
    assert "!dir-" not in visible_text(unfolded(body)) and "$web" not in unfolded(body)
    assert '<time datetime="2025-10-09T' in body
    assert f'href="/api/v1/organizations/{org_id}"' in body
    assert "@editor" not in body  # who sent a listing is not shown

    shared = await site.page(f"/directory/org/{validate(RECORDS[0]).id}")
    assert "Network A" in visible_text(shared) and "Network B" in visible_text(shared)
    by_copy = await site.page("/directory/org/b-copy")  # the other network's id finds it too
    assert "<h1>Luxembourg Mentoring 1</h1>" in by_copy

    missing = await site.page("/directory/org/no-such-org", status=404)
    assert "Organisation not found" in visible_text(missing)


async def test_organisation_page_says_who_listed_it_in_the_readers_language(site: Site) -> None:
    org_id = validate(RECORDS[0]).id
    _, german, _ = await site.get(f"/directory/org/{quote(org_id)}", language="de")
    text = visible_text(unfolded(german))
    assert "Eingetragen von Network A auf dem Matrix-Server a.example am 9. Oktober 2025." in text
    assert "Eingetragen von Network B auf dem Matrix-Server b.example" in text
    assert "!dir-" not in text and "$web" not in text
    assert "!dir-b:b.example" in visible_text(folded(german))


def folded(body: str) -> str:
    """The page's folded <details> (whose content a reader opens on purpose)."""
    return "".join(re.findall(r'<details class="ids">.*?</details>', body, flags=re.DOTALL))


def unfolded(body: str) -> str:
    """The page without its folded ids."""
    return re.sub(r'<details class="ids">.*?</details>', "", body, flags=re.DOTALL)


async def test_hostile_strings_are_shown_as_text(site: Site) -> None:
    org_id = validate(RECORDS[8]).id
    for body, name in (
        (await site.page(q="hostile"), "<mark>Hostile</mark>"),  # the searched word marked
        (await site.page(f"/directory/org/{quote(org_id)}"), "Hostile"),
    ):
        markup = check_markup(body)
        assert not any(tag in ("img", "b", "i", "u") for tag, _ in markup.tags)
        assert [tag for tag, _ in markup.tags].count("svg") <= 1  # the chart's, if any
        assert f"&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt; {name} &amp; Co" in body
        assert HOSTILE_NAME in visible_text(body)
        assert '<a href="https://hostile.example/?a=1&amp;b=2" rel="nofollow noopener">' in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert HOSTILE_ALTERNATE in visible_text(body) and "&lt;u&gt;group&lt;/u&gt;" in body
    assert "<title>&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt; Hostile &amp; Co –" in body


async def test_matched_words_are_marked_after_escaping(site: Site) -> None:
    body = await site.page(q="patenschaft GEFLUCHTETE")
    [card] = re.findall(r'<ol class="results".*?</ol>', body, flags=re.DOTALL)
    # Every word beginning with a searched one is marked, diacritics and case aside ...
    assert "<mark>Patenschaften</mark> Köln" in card
    assert "<mark>Patenschaften</mark> für <mark>Geflüchtete</mark>" in card
    assert "<dd><mark>Patenschaft</mark></dd>" in card  # the services, marked too
    # Marks are made after escaping: a query's or a record's own markup stays text.
    hostile = await site.page(q='hostile "><mark>x</mark><b>')
    assert 'value="hostile &#34;&gt;&lt;mark&gt;x&lt;/mark&gt;&lt;b&gt;"' in hostile
    assert "<b>" not in hostile and hostile.count("<mark>") == hostile.count("</mark>")
    assert mark('<b>Köln</b> & "x"', search_words("koln")) == (
        "&lt;b&gt;<mark>Köln</mark>&lt;/b&gt; &amp; &#34;x&#34;"
    )


async def test_words_the_search_matched_by_their_beginning_are_marked(site: Site) -> None:
    """`Patenschaften` finds the service `Patenschaft` (a match on its first six letters) and
    `koeln` finds `Köln` (the German variant): the page marks what the search matched."""
    body = await site.page(q="Patenschaften koeln")
    [card] = re.findall(r'<ol class="results".*?</ol>', body, flags=re.DOTALL)
    assert "<mark>Patenschaften</mark> <mark>Köln</mark>" in card
    assert "<dd><mark>Patenschaft</mark></dd>" in card
    # A word shorter than four letters matches only itself, and is marked only so.
    assert (
        str(mark("Job Jobs job", search_words("job"))) == "<mark>Job</mark> Jobs <mark>job</mark>"
    )


async def test_result_cards_show_a_line_services_languages_place_and_website(site: Site) -> None:
    body = await site.page(q="köln")
    [card] = re.findall(r'<ol class="results".*?</ol>', body, flags=re.DOTALL)
    text = visible_text(card)
    assert "Patenschaften für Geflüchtete" in text  # the description's first line
    assert "Services Patenschaft" in text and "Languages German" in text
    assert "Place Köln , Germany" in text or "Place Köln, Germany" in text
    hostile = await site.page(q="hostile")
    [card] = re.findall(r'<ol class="results".*?</ol>', hostile, flags=re.DOTALL)
    assert '<p class="line">&lt;img src=x onerror=alert(1)&gt;</p>' in card  # one line only
    assert "Second line" not in card


async def test_search_box_comes_first_with_filters_folded(site: Site) -> None:
    body = await site.page(q="mentoring")
    form = body.split("<form", 1)[1].split("</form>", 1)[0]
    assert form.index('id="f-q"') < form.index('<details class="filters">')
    assert '<details class="filters">' in form  # folded (the stylesheet opens it when wide)
    assert body.index("</form>") < body.index('id="results"') < body.index('id="by-country"')
    filtered = await site.page(q="mentoring", country="LU")
    assert '<details class="filters" open>' in filtered  # a filter in use is shown


async def test_home_page_links_to_the_directory_and_the_pages_to_each_other(site: Site) -> None:
    home = await site.page("/")
    markup = check_markup(home)
    targets = {link.get("href") for link in markup.links}
    assert {"/directory", "/resources"} <= targets
    assert "Mentoring networks" in visible_text(home) and "Directory" in visible_text(home)
    directory = check_markup(await site.page("/directory"))
    assert {"/", "/resources"} <= {link.get("href") for link in directory.links}
    _, german, _ = await site.get("/", language="de")
    assert "Verzeichnis" in german and '<html lang="de">' in german
    _, chosen, _ = await site.get("/", hl="fr")
    assert 'href="/directory?hl=fr"' in chosen and 'href="/?hl=nl"' in chosen


def test_javascript_websites_are_never_links() -> None:
    with pytest.raises(RecordError, match="website"):
        validate({"name": "Evil", "website": "javascript:alert(1)"})
    for url in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "https:///nohost",
        "/relative",
    ):
        assert safe_href(url) is None, url
        shown = str(website_link(url))
        assert "<a" not in shown and "<script" not in shown, url
    assert safe_href("https://ok.example/a?b=c") == "https://ok.example/a?b=c"
    assert website_link("https://ok.example/?a=1&b=2") == (
        '<a href="https://ok.example/?a=1&amp;b=2" rel="nofollow noopener">'
        "https://ok.example/?a=1&amp;b=2</a>"
    )


# --- the API -------------------------------------------------------------------------------------


async def test_api_pages_through_the_results(site: Site) -> None:
    seen: list[str] = []
    for number, size in ((1, 2), (2, 2), (3, 1)):
        page = await site.organizations(country="LU", per_page="2", page=str(number))
        assert page["total_items"] == 5 and page["total_pages"] == 3
        assert page["page_number"] == number and page["size"] == size
        assert page["first_page"] is (number == 1) and page["last_page"] is (number == 3)
        assert page["empty"] is False and len(page["contents"]) == size
        assert page["total_items_exact"] is True
        seen += [item["id"] for item in page["contents"]]
    assert len(set(seen)) == 5
    past = await site.organizations(country="LU", per_page="2", page="4")
    assert past["contents"] == [] and past["empty"] is True and past["size"] == 0
    everything = await site.organizations(per_page="100")
    assert everything["total_items"] >= len(RECORDS) and everything["total_pages"] == 1
    default = await site.organizations()
    assert default["size"] == 20 and default["page_number"] == 1


async def test_api_filters(site: Site) -> None:
    def names(page: dict[str, Any]) -> list[str]:
        return sorted(item["name"] for item in page["contents"])

    assert names(await site.organizations(q="patenschaft")) == ["Patenschaften Köln"]
    assert names(await site.organizations(search="patenschaft")) == ["Patenschaften Köln"]
    assert names(await site.organizations(lang="NL")) == ["Gent Buddies"]
    assert names(await site.organizations(city="Brussels")) == ["Brussels Welcome"]
    assert names(await site.organizations(target_group="youth", country="lu", q="3")) == [
        "Luxembourg Mentoring 3"
    ]
    assert names(await site.organizations(service="patenschaft", country="DE")) == [
        "Patenschaften Köln"
    ]
    none = await site.organizations(q="mentoring", country="MT")
    assert none["total_items"] == 0 and none["empty"] is True and none["total_pages"] == 0


async def test_api_item_is_hsds_with_sources_and_no_personal_data(site: Site) -> None:
    org_id = validate(RECORDS[5]).id
    item = await site.api(f"/api/v1/organizations/{org_id}")
    assert item["id"] == org_id and item["name"] == "Patenschaften Köln"
    assert item["description"] == "Patenschaften für Geflüchtete"
    assert item["email"] == "info@paten-koeln.example" and item["year_incorporated"] == 2016
    assert item["languages"] == ["de"]
    address = item["locations"][0]["addresses"][0]
    assert address["city"] == "Köln" and address["country"] == "DE"
    assert item["services"][0]["name"] == "Patenschaft"
    assert item["services"][0]["target_groups"] == ["Geflüchtete"]
    assert item["sources"] == [
        {
            "network": "Network A",
            "homeserver": "a.example",
            "room_id": ROOM_A,
            "event_id": "$web5",
            "org_id": org_id,
            "origin_ts": 1_760_000_000_005,
            "published_at": "2025-10-09T08:53:20Z",
        }
    ]
    everything = json.dumps(await site.organizations(per_page="100"))
    assert "contacts" not in everything and "sender" not in everything
    assert "@editor" not in everything

    shared = await site.api(f"/api/v1/organizations/{validate(RECORDS[0]).id}")
    assert {source["network"] for source in shared["sources"]} == {"Network A", "Network B"}
    assert (await site.api("/api/v1/organizations/b-copy"))["id"] == shared["id"]


async def test_api_unknown_id_is_a_json_404(site: Site) -> None:
    body = await site.api("/api/v1/organizations/no-such-org", status=404)
    assert body["error"]["code"] == "not_found" and "no-such-org" in body["error"]["message"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page": "0"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": "99999999999999999999"}, "page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
        ({"country": "XYZ"}, "country"),
        ({"country": "XX"}, "country"),
        ({"country": "UK"}, "country"),
        ({"lang": "deu"}, "lang"),
        ({"lang": "x1"}, "lang"),
        ({"q": "a" * 201}, "q"),
        ({"search": "a" * 201}, "search"),
        ({"q": "a", "search": "b"}, "search"),
        ({"city": "c" * 101}, "city"),
        ({"service": "bad\x00byte"}, "service"),
        ([("page", "1"), ("page", "2")], "page"),
    ],
)
async def test_api_refuses_bad_parameters(
    site: Site, params: dict[str, str] | list[tuple[str, str]], parameter: str
) -> None:
    async with site.session.get(site.base + "/api/v1/organizations", params=params) as response:
        assert response.status == 400
        assert response.headers["Cache-Control"] == "no-store"
        body = await response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == "bad_parameter" and error["parameter"] == parameter
    assert error["message"].startswith(f"{parameter}: ")
    if params == {"country": "UK"}:
        assert "did you mean GB?" in error["message"]


async def test_q_of_200_characters_is_fine(site: Site) -> None:
    page = await site.organizations(q="a" * 200)
    assert page["total_items"] == 0


async def test_openapi_describes_every_endpoint(site: Site) -> None:
    document = await site.api("/api/v1/openapi.json")
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]
    paths = document["paths"]
    assert set(paths) == {
        "/api/v1/",
        *(f"/api/v1/{kind}{one}" for kind in ("organizations", "services",
          "service_at_locations", "taxonomies", "taxonomy_terms") for one in ("", "/{id}")),
    }  # fmt: skip
    listing = paths["/api/v1/organizations"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "q", "country", "city", "lang", "target_group", "service", "page", "per_page",
    }  # fmt: skip
    assert set(listing["responses"]) == {"200", "400"}
    assert set(paths["/api/v1/organizations/{id}"]["get"]["responses"]) == {"200", "404"}
    schemas = document["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in refs(v)]
        return [r for v in node for r in refs(v)] if isinstance(node, list) else []

    for ref in refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    assert {"total_items", "total_pages", "page_number", "size", "first_page", "last_page",
            "empty", "contents"} <= set(schemas["Page"]["properties"])  # fmt: skip
    assert "contacts" not in schemas["Organization"]["properties"]


async def test_api_answers_match_the_openapi_schemas(site: Site) -> None:
    import jsonschema

    document = await site.api("/api/v1/openapi.json")

    def validator(name: str) -> Any:
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.Draft202012Validator.check_schema(schema)
        return jsonschema.Draft202012Validator(schema)

    for name in ("Page", "Organization", "Service", "Location", "Address", "Language"):
        assert name in document["components"]["schemas"]
    validator("Page").validate(await site.organizations(per_page="100"))
    validator("Page").validate(await site.organizations(q="nothing-matches-this"))
    org_id = validate(RECORDS[5]).id
    validator("Organization").validate(await site.api(f"/api/v1/organizations/{org_id}"))
    validator("Error").validate(await site.organizations(status=400, page="x"))
    validator("Error").validate(await site.api("/api/v1/organizations/nope", status=404))


# --- end to end ----------------------------------------------------------------------------------


async def until(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, "did not happen in time"
        await asyncio.sleep(0.1)
    return result


async def test_an_organisation_added_in_chat_appears_on_the_web(site: Site, person) -> None:
    editor = await person(name="webeditor")
    room = await site.bot.room_with(editor)
    added = await editor.ask(
        room,
        "!dir add Webtest Wien city:Wien country:AT website:https://webtest.example"
        ' languages:de,en service:Mentoring groups:students description:"<b>Mentoring</b>"',
    )
    assert "Added **Webtest Wien**" in added.body, added.body

    async def listed() -> dict[str, Any] | None:
        page = await site.organizations(q="webtest", country="AT")
        return page if page["total_items"] == 1 else None

    item = (await until(listed))["contents"][0]
    assert item["name"] == "Webtest Wien" and item["description"] == "<b>Mentoring</b>"
    assert item["website"] == "https://webtest.example"
    [source] = item["sources"]
    assert source["network"] == NETWORK
    assert source["homeserver"] == site.bot.hs.server_name
    assert source["event_id"].startswith("$") and source["room_id"].startswith("!")
    assert abs(source["origin_ts"] / 1000 - time.time()) < 120
    assert editor.user_id not in json.dumps(item)

    body = await site.page(f"/directory/org/{quote(item['id'])}")
    assert "<h1>Webtest Wien</h1>" in body and "&lt;b&gt;Mentoring&lt;/b&gt;" in body
    assert NETWORK in visible_text(body) and editor.user_id not in body


@pytest.mark.parametrize("path", ["/api/v1/organizations", "/directory"])
async def test_an_over_long_request_line_gets_our_error_and_no_traceback(
    site: Site, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """A q= longer than a request line may be: the API's JSON error (the page: a short HTML
    page), nothing of the parser's internals, and no ERROR or traceback in the log."""
    caplog.set_level(logging.INFO)
    for _ in range(2):
        async with site.session.get(site.base + path, params={"q": "a" * 9_000}) as response:
            status, kind, text = response.status, response.content_type, await response.text()
        assert status == 400 and "bytearray" not in text and "aaaa" not in text
        if path.startswith("/api/"):
            assert kind == "application/json"
            error = json.loads(text)["error"]
            assert error == {"code": "bad_request", "message": "the request is too long"}
        else:
            assert kind == "text/html" and "<h1>Bad Request</h1>" in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert "Traceback" not in caplog.text


async def test_api_errors_of_the_router_are_json_and_pages_html(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    async with site.session.get(site.base + "/api/v1/no-such-thing") as response:
        assert (response.status, response.content_type) == (404, "application/json")
        assert (await response.json())["error"]["code"] == "not_found"
    async with site.session.post(site.base + "/api/v1/organizations", data=b"x") as response:
        assert (response.status, response.content_type) == (405, "application/json")
        assert (await response.json())["error"]["code"] == "method_not_allowed"
        assert "GET" in response.headers["Allow"]
    async with site.session.get(site.base + "/no-such-page") as response:
        assert (response.status, response.content_type) == (404, "text/html")
        assert "<h1>Not Found</h1>" in await response.text()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
