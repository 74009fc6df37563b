"""E-mail on its own: a message's headers and parts, and what a refusing or absent mail
server means, against real SMTP servers on loopback (aiosmtpd)."""

from __future__ import annotations

import email
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bots.network.mail import Letter, MailError, build_message, send_mail
from core.config import SmtpConfig
from devtools.homeserver import free_port
from devtools.mail import MailCatcher

LETTER = Letter(
    to="eve@example.org",
    to_name="Eve\r\nBcc: spy@example.org",
    sender_name='Mentors "Hamburg"; <office>',
    subject="Hello\nBcc: spy@example.org",
    text="Plain words",
    html="<p>Plain words</p>",
    language="nl",
)


def settings(port: int) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, security="none", sender="office@m.example")


def test_headers_cannot_be_injected_and_both_parts_are_there() -> None:
    raw = build_message(LETTER, "office@m.example").as_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert "Bcc" not in parsed and b"\nBcc:" not in raw
    assert parsed["To"].addresses[0].addr_spec == "eve@example.org"
    assert parsed["From"].addresses[0].display_name == 'Mentors "Hamburg"; <office>'
    assert parsed.get_body(("plain",)).get_content().strip() == "Plain words"
    assert '<html lang="nl">' in parsed.get_body(("html",)).get_content()


async def test_a_mail_catcher_keeps_what_it_receives(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path, free_port())
    catcher.start()
    try:
        await send_mail(settings(catcher.port), LETTER)
    finally:
        catcher.stop()
    (path,) = catcher.messages()
    assert path.suffix == ".eml" and b"Plain words" in path.read_bytes()


class Refusing:
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, _: Any):
        return "550 5.1.1 mailbox unavailable"


async def test_a_refusal_and_an_absent_server_say_why() -> None:
    port = free_port()
    refusing = Controller(Refusing(), hostname="127.0.0.1", port=port)
    refusing.start()
    try:
        with pytest.raises(MailError) as refused:
            await send_mail(settings(port), LETTER)
    finally:
        refusing.stop()
    assert refused.value.kind == "refused"
    assert "refused the address (550 5.1.1 mailbox unavailable)" in str(refused.value)
    with pytest.raises(MailError) as away:
        await send_mail(settings(free_port()), LETTER)
    assert away.value.kind == "unreachable" and "not reachable" in str(away.value)
