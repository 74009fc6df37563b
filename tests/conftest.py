"""Shared fixtures: real Synapse homeservers on loopback and people who use them."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.clock import Clock
from devtools.homeserver import LocalSynapse, federated_pair
from tests.bots import MakeBot, RunningBot
from tests.people import MakePerson, NewUser, Person

for noisy in ("nio", "apscheduler"):  # their INFO lines drown what failed
    logging.getLogger(noisy).setLevel(logging.WARNING)


@pytest.fixture(scope="session")
async def synapse(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalSynapse]:
    """A homeserver with relaxed rate limits, shared by the whole session."""
    async with LocalSynapse(tmp_path_factory.mktemp("synapse")) as hs:
        yield hs


@pytest.fixture(scope="session")
async def strict_synapse(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalSynapse]:
    """A homeserver whose rc_message is strict (2/s, burst 5); started on first use."""
    path: Path = tmp_path_factory.mktemp("strict-synapse")
    async with LocalSynapse(path, rate_limits="strict") as hs:
        yield hs


@pytest.fixture(scope="session")
async def federation(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[LocalSynapse, LocalSynapse]]:
    """Two homeservers that federate over TLS on loopback; started on first use."""
    pair = await federated_pair(tmp_path_factory.mktemp("federation"))
    try:
        yield pair
    finally:
        await asyncio.gather(*(hs.stop() for hs in pair))


@pytest.fixture
def new_user(synapse: LocalSynapse) -> NewUser:
    """Register a fresh, unique user on a homeserver (default: ``synapse``)."""

    async def make(hs: LocalSynapse | None = None, prefix: str = "mentor") -> tuple[str, str]:
        localpart = f"{prefix.lower()}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        return await (hs or synapse).register(localpart, password), password

    return make


@pytest.fixture
async def person(synapse: LocalSynapse, new_user: NewUser) -> AsyncIterator[MakePerson]:
    """Log in fresh people (default homeserver: ``synapse``); all are closed after the test."""
    people: list[Person] = []

    async def make(
        hs: LocalSynapse | None = None, *, encryption: bool = False, name: str = "mentor"
    ) -> Person:
        hs = hs or synapse
        user_id, password = await new_user(hs, prefix=name)
        someone = await Person.login(hs, user_id, password, encryption=encryption, name=name)
        people.append(someone)
        return someone

    yield make
    await asyncio.gather(*(someone.close() for someone in people))


@pytest.fixture
async def mentornet(
    synapse: LocalSynapse, new_user: NewUser, tmp_path: Path
) -> AsyncIterator[MakeBot]:
    """Our bot with a fresh account and database: `await mentornet(hs=None, start=True, **config)`.

    Keyword settings are merged into the generated config (e.g. `bots={"admins": [...]}`).
    Everything started is stopped after the test, child processes included.
    """
    running: list[RunningBot] = []

    async def make(
        hs: LocalSynapse | None = None,
        *,
        start: bool = True,
        clock: Clock | None = None,
        **settings: Any,
    ) -> RunningBot:
        hs = hs or synapse
        user_id, password = await new_user(hs, prefix="mentornet")
        folder = tmp_path / f"bot{len(running)}"
        folder.mkdir()
        bot = RunningBot(hs, user_id, password, folder, clock, **settings)
        running.append(bot)
        if start:
            await bot.start()
        return bot

    yield make
    for bot in running:
        await bot.stop()
        if bot.process is not None:
            bot.process.kill()
            await bot.process.wait()
