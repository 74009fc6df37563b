"""A local mail catcher (aiosmtpd) for the demo and the tests: every message it receives
becomes an `.eml` file."""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any


class _Writer:
    """aiosmtpd handler: every message received becomes one `.eml` file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.time_ns()  # names sort in the order the messages came
        name = f"{time.strftime('%Y%m%d-%H%M%S')}.{stamp % 10**9:09d}-{secrets.token_hex(2)}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted"


class MailCatcher:
    """A plain SMTP server on 127.0.0.1 that keeps every message as a file in `folder`."""

    def __init__(self, folder: Path, port: int) -> None:
        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs addresses
        self.folder, self.port = folder, port
        self._controller = Controller(_Writer(folder), hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()
        self._started = True

    def stop(self) -> None:
        """Stop it if it runs; safe to call at any time."""
        if getattr(self, "_started", False):
            self._controller.stop()
            self._started = False

    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml")) if self.folder.exists() else []
