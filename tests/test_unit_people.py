"""How a person is written into a message: the name as text, a mention pill as HTML."""

from __future__ import annotations

from core.people import localpart, pill
from core.text import Text


def test_a_pill_shows_the_name_and_links_the_person_escaped() -> None:
    text = pill("@carol:example.org", 'Carol <b>"Weber"</b>')
    assert text.body == 'Carol <b>"Weber"</b>'
    assert text.html == (
        '<a href="https://matrix.to/#/@carol:example.org">'
        "Carol &lt;b&gt;&quot;Weber&quot;&lt;/b&gt;</a>"
    )
    sent = Text.render("Welcome, {user}!", {"user": text}).content()
    assert sent["body"] == 'Welcome, Carol <b>"Weber"</b>!'
    assert '<a href="https://matrix.to/#/@carol:example.org">' in sent["formatted_body"]


def test_without_any_name_the_localpart_stands_for_the_person() -> None:
    assert localpart("@carol.weber:example.org") == "carol.weber"
