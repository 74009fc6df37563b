"""Message text: trusted Markdown templates, untrusted values, sanitised HTML."""

from __future__ import annotations

import pytest

from core.text import Text, sanitise, shorten


def test_values_are_escaped_in_html_and_verbatim_in_body() -> None:
    text = Text.render("Hi {name}!", {"name": '<b onclick="x">Tom & "Jerry"</b>'})
    assert text.body == 'Hi <b onclick="x">Tom & "Jerry"</b>!'
    assert text.html == "Hi &lt;b onclick=&quot;x&quot;&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;!"


@pytest.mark.parametrize("value", ["**x**", "_x_", "`x`", "[x](https://evil.org)", "# x"])
def test_values_are_never_markdown(value: str) -> None:
    text = Text.render("Value: {v}", {"v": value})
    assert text.body == f"Value: {value}"
    assert text.html == f"Value: {value}"  # no tags added, nothing to escape
    assert "<" not in text.content()["formatted_body"]


def test_template_markdown_is_rendered() -> None:
    text = Text.render("**Hello** {who}, send `{cmd}`", {"who": "Ana", "cmd": "!help <x>"})
    assert text.html == "<strong>Hello</strong> Ana, send <code>!help &lt;x&gt;</code>"
    assert text.body == "**Hello** Ana, send `!help <x>`"


def test_multi_paragraph_template_keeps_paragraphs() -> None:
    text = Text.render("One {a}\n\nTwo", {"a": 1})
    assert text.html == "<p>One 1</p>\n<p>Two</p>"


def test_text_values_are_inserted_as_they_are() -> None:
    inner = Text.render("**bold** {x}", {"x": "<i>"})
    outer = Text.render("Say: {inner}", {"inner": inner})
    assert outer.html == "Say: <strong>bold</strong> &lt;i&gt;"
    assert outer.body == "Say: **bold** <i>"


def test_plain_escapes_html() -> None:
    assert Text.plain("<a>&").html == "&lt;a&gt;&amp;"
    assert Text.plain("<a>&").body == "<a>&"


@pytest.mark.parametrize(
    ("markup", "forbidden"),
    [
        ("<p>a<script>alert(1)</script></p>", "alert"),
        ('<p onclick="alert(1)" onmouseover="x()">a</p>', "on"),
        ('<a href="javascript:alert(1)">l</a>', "javascript"),
        ('<img src="https://example.org/x.png" alt="x">', "img"),
        ('<p style="color:red">a</p><style>p { color: red }</style>', "color"),
        ('<iframe src="https://example.org"></iframe>', "iframe"),
    ],
)
def test_sanitise_drops_dangerous_markup(markup: str, forbidden: str) -> None:
    assert forbidden not in sanitise(markup)


def test_sanitise_keeps_matrix_markup() -> None:
    markup = (
        '<p><strong>b</strong> <em>i</em> <a href="https://example.org">l</a> '
        '<code class="language-python">c</code> <span data-mx-color="#ff0000">s</span></p>'
        "<ul><li>x</li></ul><blockquote>q</blockquote><pre>p</pre>"
    )
    assert sanitise(markup) == markup


def test_join_and_bullets() -> None:
    a, b = Text.plain("a<"), Text.render("**b**")
    assert Text.join([a, b]) == Text("a<\n**b**", "a&lt;<br>\n<strong>b</strong>")
    assert Text.join([a, b], " & ") == Text("a< & **b**", "a&lt; &amp; <strong>b</strong>")
    assert a + b == Text.join([a, b])
    assert Text.bullets([a, b]) == Text(
        "- a<\n- **b**", "<ul><li>a&lt;</li><li><strong>b</strong></li></ul>"
    )


def test_content_is_a_matrix_message() -> None:
    text = Text("hi", '<strong>hi</strong><script>x</script><img src="https://e.org/i">')
    assert text.content() == {
        "msgtype": "m.notice",
        "body": "hi",
        "format": "org.matrix.custom.html",
        "formatted_body": "<strong>hi</strong>",
    }
    assert text.content("m.text")["msgtype"] == "m.text"


def test_shorten() -> None:
    assert shorten("abcdef", 6) == "abcdef"
    assert shorten("abcdef", 4) == "abc…"
    assert len(shorten("x" * 100, 10)) == 10
