"""A local mail catcher (aiosmtpd) for the demo and the tests: every message it receives
becomes an `.eml` file."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any


class _Writer:
    """aiosmtpd handler: every message received becomes one `.eml` file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.answering = threading.Event()  # cleared: a message is kept, its "250" waits
        self.answering.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.time_ns()  # names sort in the order the messages came
        name = f"{time.strftime('%Y%m%d-%H%M%S')}.{stamp % 10**9:09d}-{secrets.token_hex(2)}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        await asyncio.get_running_loop().run_in_executor(None, self.answering.wait)
        return "250 Message accepted"


class MailCatcher:
    """A plain SMTP server on 127.0.0.1 that keeps every message as a file in `folder`."""

    def __init__(self, folder: Path, port: int) -> None:
        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs addresses
        self.folder, self.port = folder, port
        self._writer = _Writer(folder)
        self._controller = Controller(self._writer, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()
        self._started = True

    def hold_answers(self, held: bool = True) -> None:
        """While held, a message is kept at once but the sender waits for the server's "250"
        (a slow mail server: the mail has arrived, its sender does not know it yet)."""
        if held:
            self._writer.answering.clear()
        else:
            self._writer.answering.set()

    def stop(self) -> None:
        """Stop it if it runs; safe to call at any time."""
        self.hold_answers(False)
        if getattr(self, "_started", False):
            self._controller.stop()
            self._started = False

    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml")) if self.folder.exists() else []
