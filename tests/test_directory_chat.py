"""`!dir` in a Matrix client: searching, paging, this network's entries, imports from an
uploaded file, permissions, hostile text; and the command line import/export."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys

from tests.bots import ROOT
from tests.network_helpers import create_network, member_joins
from tests.people import Person, reply_to, upload_file

SEED = (ROOT / "directory" / "seed.json").read_bytes()
EDITORS = ["@metamentor-*"]  # configured editors: the people named metamentor below


async def test_import_an_uploaded_file_then_search_and_page(mentornet, person) -> None:
    bot = await mentornet(
        directory={"network": "mentorNET Hamburg", "page_size": 3, "editors": EDITORS}
    )
    metamentor: Person = await person(name="metamentor", encryption=True)
    room = await bot.room_with(metamentor, encrypted=True)

    upload = await upload_file(metamentor, room, SEED, "partners.json", "application/json")
    command = await reply_to(metamentor, room, upload, "!dir import")
    report = await metamentor.wait_for_reply(room, command, timeout=60)
    count = len(json.loads(SEED)["organizations"])
    assert f"Imported: {count} new" in report.body

    again = await reply_to(metamentor, room, upload, "!dir import")
    assert (
        f"0 new, 0 updated, {count} unchanged"
        in (await metamentor.wait_for_reply(room, again)).body
    )

    found = await metamentor.ask(room, "!dir search mentoring")
    assert "Organisations 1–3 of" in found.body and "listed by mentorNET Hamburg" in found.body
    more = await metamentor.ask(room, "!dir more")
    assert "Organisations 4–6 of" in more.body

    stats = await metamentor.ask(room, "!dir stats")
    assert "Belgium:" in stats.body and f"mentorNET Hamburg: {count}" in stats.body
    await metamentor.ask(room, "!lang fr")
    french = await metamentor.ask(room, "!dir stats")
    assert "**Par pays :**" in french.body and "Belgique :" in french.body


async def test_a_broken_file_changes_nothing_and_says_where(mentornet, person) -> None:
    bot = await mentornet(directory={"editors": EDITORS})
    metamentor: Person = await person(name="metamentor")
    room = await bot.room_with(metamentor)
    csv = (
        b"id,name,city,country,website\n"
        b"ok-1,Good Org,Gent,BE,https://good.example\n"
        b"bad-1,,Gent,BE,https://x.example\n"
        b"bad-2,Bad Country,Paris,XX,https://y.example\n"
    )
    upload = await upload_file(metamentor, room, csv, "orgs.csv", "text/csv")
    answer = await metamentor.wait_for_reply(
        room, await reply_to(metamentor, room, upload, "!dir import")
    )
    assert "Nothing was imported: 1 problem in the file" in answer.body
    assert "line 3" in answer.body and "name: missing" in answer.body
    assert "No organisation" in (await metamentor.ask(room, "!dir search Good")).body

    fixed = csv.replace(b"bad-1,,", b"bad-1,Named Now,")
    upload = await upload_file(metamentor, room, fixed, "orgs.csv", "text/csv")
    answer = await metamentor.wait_for_reply(
        room, await reply_to(metamentor, room, upload, "!dir import")
    )
    assert "Imported: 3 new" in answer.body and "Left out because not valid (1)" in answer.body
    assert 'line 4: country: "XX" is not an ISO 3166-1 country code' in answer.body
    assert "Bad Country" in (await metamentor.ask(room, "!dir search Bad Country")).body

    lonely = await metamentor.ask(room, "!dir import")
    assert "reply to it with `!dir import`" in lonely.body


async def test_entries_are_changed_only_by_those_allowed(mentornet, person) -> None:
    bot = await mentornet(directory={"editors": EDITORS})
    metamentor: Person = await person(name="metamentor")
    mentor: Person = await person()
    room = await bot.room_with(metamentor, invite=[mentor.user_id])
    await mentor.join(room)

    refused = await mentor.ask(room, "!dir add Sneaky Org city:Gent country:BE")
    assert "Only the network's organisation representatives" in refused.body
    invalid = await metamentor.ask(room, "!dir add Some Org country:XX website:javascript:alert(1)")
    assert "Nothing was saved" in invalid.body and "XX" in invalid.body
    added = await metamentor.ask(room, "!dir add Integration in Sweden city:Stockholm country:SE")
    org_id = added.body.split("(`")[1].split("`)")[0]
    assert "refused" not in (await mentor.ask(room, f"!dir show {org_id}")).body
    assert "Only" in (await mentor.ask(room, f"!dir remove {org_id}")).body
    assert "Removed" in (await metamentor.ask(room, f"!dir remove {org_id}")).body


async def test_hostile_text_is_stored_and_shown_safely(mentornet, person) -> None:
    bot = await mentornet(directory={"editors": EDITORS})
    metamentor: Person = await person(name="metamentor")
    room = await bot.room_with(metamentor)
    name = "<b onmouseover=alert(1)>مرحبا 🤝</b>'; DROP TABLE directory_listings;--"
    added = await metamentor.ask(room, f'!dir add "{name}" description:"{"x" * 10_000}" country:DE')
    assert "Added" in added.body
    org_id = added.body.split("(`")[1].split("`)")[0]
    shown = await metamentor.ask(room, f"!dir show {org_id}")
    assert name in shown.body  # exactly as typed, right-to-left text and emoji included
    html = shown.source["content"]["formatted_body"]
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(1)&gt;" in html
    found = await metamentor.ask(room, "!dir search DROP TABLE")
    assert "مرحبا" in found.body


async def test_command_line_import_and_export(mentornet, tmp_path) -> None:
    bot = await mentornet(start=False)
    config = bot.write_config()
    seed = tmp_path / "seed.json"
    seed.write_bytes(SEED)

    async def cli(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", *args, "--config", str(config), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode, out.decode()

    code, out = await cli("directory", "import", str(seed))
    assert code == 0 and f"{len(json.loads(SEED)['organizations'])} added" in out
    exported = tmp_path / "out.csv"
    code, _ = await cli("directory", "export", str(exported))
    assert code == 0
    code, out = await cli("directory", "import", str(exported))
    assert code == 0 and " 0 added, 0 updated" in out  # the CSV round trip changes nothing

    broken = tmp_path / "broken.json"
    broken.write_text('{"organizations": [{"name": "A"}, {"id": "b"}]}')
    code, out = await cli("directory", "import", str(broken))
    assert code == 1 and "nothing imported" in out and "record 2" in out

    app = await bot.start()  # the running bot publishes what the command line imported
    count = len(json.loads(SEED)["organizations"])
    for _ in range(100):
        if app.store.db.execute("SELECT count(*) FROM directory_listings").fetchone()[0] == count:
            break
        await asyncio.sleep(0.1)
    with sqlite3.connect(config.parent / "mentornet.db") as db:
        published = db.execute("SELECT count(*) FROM directory_listings").fetchone()[0]
    assert published == count  # back through the directory room, into the searchable mirror


async def test_organisation_representatives_edit_their_networks_entries(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    representative: Person = await person(name="kiron", encryption=True)  # general is encrypted
    mentor: Person = await person(encryption=True)
    net = await create_network(bot, meta, join=("general",))
    await meta.ask(net.office, f"!network invite {representative.user_id} organisation")
    await meta.ask(net.office, f"!network invite {mentor.user_id}")
    await member_joins(net, representative, ("general",))
    await member_joins(net, mentor, ("general",))
    general = net.rooms["general"]

    added = await representative.ask(
        general, "!dir add Kiron Open Higher Education city:Berlin country:DE"
    )
    assert "Added **Kiron Open Higher Education**" in added.body  # power level 0, yet allowed
    refused = await mentor.ask(general, "!dir add Something Else city:Berlin country:DE")
    assert "Only the network's organisation representatives" in refused.body


async def test_show_names_languages_in_the_readers_language(mentornet, person) -> None:
    bot = await mentornet(directory={"editors": EDITORS})
    metamentor: Person = await person(name="metamentor")
    room = await bot.room_with(metamentor)
    upload = await upload_file(metamentor, room, SEED, "partners.json", "application/json")
    await metamentor.wait_for_reply(room, await reply_to(metamentor, room, upload, "!dir import"))

    shown = await metamentor.ask(room, "!dir show seed-duo-for-a-job")
    assert "Languages: French and Dutch" in shown.body, shown.body
    found = await metamentor.ask(room, "!dir search DUO")
    assert "languages: French and Dutch" in found.body, found.body
    await metamentor.ask(room, "!lang fr")
    french = await metamentor.ask(room, "!dir show seed-duo-for-a-job")
    assert "français et néerlandais" in french.body, french.body
    assert "fr, nl" not in french.body
