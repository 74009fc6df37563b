"""The test harness itself, through real homeservers."""

from __future__ import annotations

import nio
import pytest

from devtools.homeserver import LocalSynapse
from tests.people import MakePerson, NewUser


async def test_registration_is_idempotent(synapse: LocalSynapse, new_user: NewUser) -> None:
    user_id, password = await new_user(prefix="again")
    localpart = user_id[1:].split(":")[0]
    assert await synapse.register(localpart, password) == user_id
    assert user_id.endswith(f":{synapse.server_name}")
    token = await synapse.admin_token()
    assert await synapse.admin_token() == token
    await synapse.exempt_from_rate_limits(user_id)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_two_people_talk(person: MakePerson, encrypted: bool) -> None:
    alice = await person(encryption=encrypted, name="alice")
    bob = await person(encryption=encrypted, name="bob")
    room_id = await alice.create_room(invite=[bob.user_id], encrypted=encrypted, name="chat")
    assert await bob.wait_for_invite(room_id) == room_id
    await bob.join(room_id)
    await alice.wait_joined(room_id, bob.user_id)

    question = await alice.send(room_id, "hello bob")
    seen = await bob.wait_for_event(lambda e: getattr(e, "body", None) == "hello bob")
    assert isinstance(seen, nio.RoomMessageText)
    assert seen.event_id == question
    assert seen.decrypted is encrypted

    answer = await bob.send(room_id, "hi alice", thread_root=question)
    reply = await alice.wait_for_reply(room_id, question)
    assert (reply.event_id, reply.body) == (answer, "hi alice")
    assert alice.replies_to(room_id, question) == [reply]


async def test_strict_limits_are_hit_but_nothing_is_lost(
    strict_synapse: LocalSynapse, person: MakePerson
) -> None:
    alice = await person(strict_synapse, name="alice")
    bob = await person(strict_synapse, name="bob")
    limited: list[nio.ErrorResponse] = []

    async def on_error(response: nio.ErrorResponse) -> None:
        if response.status_code == "M_LIMIT_EXCEEDED":
            limited.append(response)

    alice.client.add_response_callback(on_error, nio.ErrorResponse)  # type: ignore[arg-type]
    room_id = await alice.create_room(invite=[bob.user_id])
    await bob.join(room_id)
    sent = [await alice.send(room_id, f"quick {n}") for n in range(20)]
    await bob.wait_for_event(lambda e: e.event_id == sent[-1], room_id=room_id)
    assert limited, "the strict server never said M_LIMIT_EXCEEDED"
    seen = [e.event_id for e in bob.timeline(room_id) if isinstance(e, nio.RoomMessageText)]
    assert seen == sent


async def test_federated_join_and_message(
    federation: tuple[LocalSynapse, LocalSynapse], person: MakePerson
) -> None:
    hs1, hs2 = federation
    alice = await person(hs1, name="alice")
    bob = await person(hs2, name="bob")
    room_id = await alice.create_room(public=True, name="across")
    await bob.join(room_id, via=[hs1.server_name])
    await alice.wait_joined(room_id, bob.user_id)
    await alice.send(room_id, "hello from hs1")
    seen = await bob.wait_for_event(
        lambda e: getattr(e, "body", None) == "hello from hs1", room_id=room_id
    )
    assert seen.sender == alice.user_id
