"""The two lanes of core.sending.Pacer, without a homeserver: requests here are waits of the
event loop that stand in for a homeserver's answer. Answers go first, bulk work goes a few
at a time and slows down when the homeserver does, and is never starved."""

from __future__ import annotations

import asyncio

from core.sending import BULK_MAX, Pacer, bulk


class Server:
    """Counts what is on its way at once and in which order requests began."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.began: list[str] = []

    async def request(self, pacer: Pacer, name: str, took: float | asyncio.Event) -> None:
        async with pacer.request("send"):
            self.began.append(name)
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                if isinstance(took, asyncio.Event):
                    await took.wait()
                else:
                    await asyncio.sleep(took)
            finally:
                self.now -= 1


async def many(server: Server, pacer: Pacer, count: int, took: float) -> None:
    with bulk():
        await asyncio.gather(*(server.request(pacer, "bulk", took) for _ in range(count)))


async def test_bulk_waits_while_an_answer_is_on_its_way() -> None:
    pacer, server, answered = Pacer(), Server(), asyncio.Event()
    answer = asyncio.create_task(server.request(pacer, "answer", answered))
    await asyncio.sleep(0)
    round_ = asyncio.create_task(many(server, pacer, 5, 0.001))
    for _ in range(20):
        await asyncio.sleep(0.005)  # the round's tasks have had every chance to begin
    assert server.began == ["answer"]
    answered.set()
    await asyncio.gather(answer, round_)
    assert server.began == ["answer"] + ["bulk"] * 5


async def test_an_answer_never_waits_for_bulk() -> None:
    pacer, server, stuck = Pacer(), Server(), asyncio.Event()
    round_ = asyncio.create_task(many(server, pacer, 10, stuck))  # a homeserver stuck on them
    await asyncio.sleep(0.01)
    await server.request(pacer, "answer", 0.001)  # returns although bulk holds every place
    assert server.began.count("bulk") <= BULK_MAX
    stuck.set()
    await round_
    assert server.began.count("bulk") == 10


async def test_bulk_goes_a_few_at_a_time_and_slows_down_with_the_homeserver() -> None:
    pacer, server = Pacer(), Server()
    await many(server, pacer, 20, 0.002)
    assert 1 < server.most <= BULK_MAX  # prompt answers: more at once, but a few only
    fast_limit = pacer.limit
    await many(server, pacer, 4, 0.3)  # the homeserver got busy: much slower than usual
    assert pacer.limit < fast_limit
    server.most = 0
    await many(server, pacer, 3, 0.3)
    assert server.most == 1  # one at a time while it stays slow


async def test_bulk_is_not_starved_by_answers_in_a_row() -> None:
    pacer, server, busy = Pacer(), Server(), asyncio.Event()
    answers = asyncio.create_task(server.request(pacer, "answer", busy))  # never ends (yet)
    await many(server, pacer, 2, 0.001)  # goes after MAX_YIELD, answers or not
    assert server.began == ["answer", "bulk", "bulk"]
    busy.set()
    await answers
