"""The Meta-Mentor assistant: a mentoring network as a Matrix space with its rooms, its
members and their roles, its rules and its agreement (the mentorNET strategy's organisational
phase).

The bot is made of parts, one module each: `setup` (create, info), `membership` (invite,
onboard, roles, members), `invitations` (by e-mail, on top of membership), `charter` (rules
and agreement), on the plumbing of `base`."""

from __future__ import annotations

import logging
from typing import Any

from bots.network import schema
from bots.network.charter import AGREE_KEYS, Charter
from bots.network.common import iso
from bots.network.invitations import Invitations
from bots.network.matrix import MatrixCallError
from bots.network.setup import Setup
from core.context import Context

log = logging.getLogger(__name__)


class Network(Setup, Invitations, Charter):
    """The network bot: its parts' commands, the events it follows, personal data."""

    name = "network"
    featured = ("network info", "network members", "network onboard", "network rules")
    migrations = schema.migrations

    # --- events that are not commands ------------------------------------------------------

    def wants(self, incoming: Any) -> bool:
        event = incoming.event
        kind = event.get("type")
        room_id = incoming.room_id
        if kind == "m.room.message":
            if self._wants_code(incoming):  # an invitation code sent on its own
                return True
            network_id = self._rooms.get(room_id)
            if network_id is not None:  # last activity, noted right here: no inbox row needed
                self.data.touch(
                    network_id, incoming.sender, event.get("origin_server_ts", 0) / 1000
                )
            return False
        if kind == "m.room.member" and room_id in self._rooms:
            membership = (event.get("content") or {}).get("membership")
            return membership == "join" or (
                membership in ("leave", "ban") and room_id in self._spaces
            )
        if kind == "m.reaction":
            relation = (event.get("content") or {}).get("m.relates_to") or {}
            return (
                relation.get("event_id") in self._agreements and relation.get("key") in AGREE_KEYS
            )
        return False

    async def on_event(self, ctx: Context) -> None:
        event = ctx.incoming.event
        if event.get("type") == "m.reaction":
            await self._reacted(ctx)
        elif event.get("type") == "m.room.member":
            await self._membership(ctx)
        elif event.get("type") == "m.room.message":
            await self._redeem(ctx, str(ctx.incoming.content.get("body", "")))

    # --- personal data (see bots.network.privacy) ------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        """Everything this bot stores about `user_id`, JSON-ready."""
        memberships = []
        for m in self.data.memberships(user_id):
            net = self.data.get(m.network_id)
            memberships.append(
                {
                    "network": net.name if net else m.network_id,
                    "role": m.role,
                    "status": m.status,
                    "name": m.display_name,
                    "languages": m.languages,
                    "region": m.region,
                    "experience": m.experience,
                    "invited_by": m.invited_by,
                    "invited_at": iso(m.invited_at),
                    "joined_at": iso(m.joined_at),
                    "agreement_version": m.agreed_version,
                    "agreed_at": iso(m.agreed_at),
                    "last_active": iso(m.last_active),
                }
            )
        created = [
            row[0]
            for row in self.app.store.db.execute(
                "SELECT name FROM networks WHERE created_by = ?", [user_id]
            ).fetchall()
        ]
        result: dict[str, Any] = {}
        if invitations := self._invitation_data(user_id):
            result["invitations"] = invitations
        if memberships:
            result["memberships"] = memberships
        if created:
            result["networks_created"] = created
        return result

    async def forget_person(self, user_id: str) -> None:
        """Remove `user_id` from every network's rooms and power levels, then erase them."""
        for m in self.data.memberships(user_id):
            net = self.data.get(m.network_id)
            if net is None:
                continue
            reason = self._t(net.language, "network.forget.kick_reason").body
            for room_id in net.all_rooms():
                try:
                    await self.hs.kick(room_id, user_id, reason)
                except MatrixCallError as error:
                    log.warning("could not remove", extra={"room": room_id, "error": str(error)})
            await self._set_levels(net, user_id, None)
        self.data.forget(user_id)
        self._forget_invitations(user_id)
        self._reload()
