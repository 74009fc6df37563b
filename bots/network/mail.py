"""E-mail: checking an address, building a message with plain-text and HTML parts, sending
it through an SMTP server with aiosmtplib (the demo's and the tests' mail catcher is
`devtools.mail`). Nothing here knows Matrix."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib

log = logging.getLogger(__name__)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


def is_email(value: str) -> bool:
    """Whether `value` is an e-mail address one can send to (ASCII, a dotted domain)."""
    return len(value) <= 254 and bool(EMAIL.match(value)) and ".." not in value


class SmtpSettings(Protocol):
    host: str
    port: int
    security: str  # starttls | tls | none
    username: str | None
    password: str | None
    sender: str
    timeout_seconds: float


class MailError(Exception):
    """Sending failed; the message says why, for the coordinator (not for the log: it may
    contain the address)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind  # a short, address-free name for the log


@dataclass(frozen=True)
class Letter:
    """One e-mail: recipient, subject, and the same text as plain text and HTML."""

    to: str
    to_name: str | None
    sender_name: str | None
    subject: str
    text: str
    html: str
    language: str


def _one_line(value: str) -> str:
    return " ".join(value.split())[:200]


def build_message(letter: Letter, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address(_one_line(letter.sender_name or ""), addr_spec=sender)
    message["To"] = Address(_one_line(letter.to_name or ""), addr_spec=letter.to)
    message["Subject"] = _one_line(letter.subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    message["Content-Language"] = letter.language
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(letter.text)
    page = (
        f'<!DOCTYPE html>\n<html lang="{letter.language}"><head><meta charset="utf-8"></head>'
        f"<body>\n{letter.html}\n</body></html>\n"
    )
    message.add_alternative(page, subtype="html")
    return message


async def send_mail(settings: SmtpSettings, letter: Letter) -> None:
    """Send one letter; raises MailError with the reason when the server is away or refuses."""
    message = build_message(letter, settings.sender)
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            timeout=settings.timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        refusal = error.recipients[0] if error.recipients else None
        detail = f"{refusal.code} {refusal.message}" if refusal else str(error)
        raise MailError(f"the mail server refused the address ({detail})", "refused") from None
    except aiosmtplib.SMTPResponseException as error:
        raise MailError(
            f"the mail server answered {error.code} {error.message}", "response"
        ) from None
    except (aiosmtplib.SMTPException, OSError) as error:
        reason = str(error) or type(error).__name__
        raise MailError(f"the mail server is not reachable ({reason})", "unreachable") from None
