"""Reading lists of MOOC graduates: typed IDs and CSV files as spreadsheets write them."""

from __future__ import annotations

from bots.network.invitations import looks_like_code, new_code, normalise_code
from bots.network.mail import is_email
from bots.network.roster import MAX_PEOPLE, parse, roster_role
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


def test_rows_with_an_e_mail_address_and_a_role_column() -> None:
    text = (
        "Name;E-Mail;Sprache;Rolle;Region\n"
        "Zoë Brun;zoe@example.org;fr;mentor-experienced;Bremen\n"
        "Kaputt;kaputt@@example;de;;\n"
        "@ina:example.org;;;;\n"
        "Lea;Lea@Example.org;nl;Coordinator;\n"
    )
    roster = parse(text)
    zoe, ina, lea = roster.people  # a row that is only a Matrix ID is understood anywhere
    assert (zoe.user_id, zoe.email, zoe.display_name) == ("", "zoe@example.org", "Zoë Brun")
    assert (zoe.languages, zoe.region, zoe.role) == ("fr", "Bremen", "mentor-experienced")
    assert ina.user_id == "@ina:example.org" and lea.email == "Lea@Example.org"
    assert roster.bad_addresses == ["kaputt@@example"]  # refused on its own, the rest go ahead
    assert roster_role(zoe, may_grant=False) == "mentor-experienced"
    assert roster_role(lea, may_grant=False) is None  # coordinator: only a Meta-Mentor
    assert roster_role(lea, may_grant=True) == "coordinator"


def test_typed_addresses_and_ids_mixed() -> None:
    roster = parse("anna@example.org @ben:example.org ANNA@example.org not@valid")
    assert [(p.user_id, p.email) for p in roster.people] == [
        ("", "anna@example.org"),
        ("@ben:example.org", None),
    ]
    assert roster.bad_addresses == ["not@valid"]
    assert is_email("a.b+c@mail.example.org") and not is_email("a@b..org")
    assert not is_email("a@b.org\nBcc: x@y.org")


def test_codes_are_long_and_forgiving_when_typed() -> None:
    code = new_code()
    assert len(code) == 17 and code.startswith("MN-") and code != new_code()
    assert normalise_code(code.lower().replace("-", " ")) == code
    assert normalise_code("mn 2345 6789 abcd") == "MN-2345-6789-ABCD"
    assert normalise_code("MN-2345-6789-ABC") is None  # too short
    assert looks_like_code(f"  {code}  ") and not looks_like_code("hello there")
    assert not looks_like_code(f"please let me in, my code is {code}")
