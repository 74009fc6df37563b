"""Reading lists of MOOC graduates: typed IDs and CSV files as spreadsheets write them."""

from __future__ import annotations

from bots.network.roster import MAX_PEOPLE, parse
from bots.network.schema import Member


def test_typed_ids_on_one_or_several_lines() -> None:
    roster = parse("@anna:example.org @ben:example.org\n@carla:localhost:8008, @anna:example.org")
    assert [p.user_id for p in roster.people] == [
        "@anna:example.org",
        "@ben:example.org",
        "@carla:localhost:8008",
    ]
    assert roster.problems == []


def test_csv_with_a_german_header_semicolons_and_a_bom() -> None:
    text = (
        "\ufeffMatrix-ID;Name;Sprachen;Region;Erfahrung\n"
        "@dana:example.org;Dana Kraus;de, ar;Sachsen;erfahren\n"
        "Dana ohne ID;;;;\n"
        "@emil:example.org;Emil;en;;\n"
    )
    roster = parse(text)
    dana, emil = roster.people
    assert (dana.display_name, dana.languages, dana.region) == ("Dana Kraus", "de, ar", "Sachsen")
    assert dana.experienced and not emil.experienced
    assert emil.region is None
    assert roster.problems == ["Dana ohne ID"]


def test_csv_without_header_and_with_columns_in_another_order() -> None:
    plain = parse("@f:example.org,Fatma,tr,Hamburg,novice\n@g:example.org\tGreta")
    assert plain.people[0].languages == "tr" and plain.people[0].region == "Hamburg"
    reordered = parse("name,region,matrix id\nHana,Bremen,@h:example.org\n")
    (hana,) = reordered.people
    assert (hana.user_id, hana.display_name, hana.region) == ("@h:example.org", "Hana", "Bremen")


def test_nothing_usable_and_too_many() -> None:
    assert parse("   ").people == []
    assert parse("just words here").problems == ["just words here"]
    many = parse("\n".join(f"@user{n}:example.org" for n in range(MAX_PEOPLE + 5)))
    assert len(many.people) == MAX_PEOPLE and many.truncated


def test_welcome_language_is_the_first_one_the_bots_speak() -> None:
    member = Member(1, "@a:example.org", "mentor-novice", "pending", languages="tr, de, en")
    assert member.language(("en", "de"), "en") == "de"
    assert Member(1, "@b:x.org", "organisation", "joined").language(("en", "de"), "de") == "de"
    assert (
        Member(1, "@c:x.org", "mentor-novice", "joined", languages="English").language(
            ("en", "de"), "de"
        )
        == "en"
    )
