"""The network's rules and agreement: `!network rules` (pinned in announcements),
`!network agreement`, and accepting it with `!network agree` or a ✅ reaction."""

from __future__ import annotations

import logging

from bots.network.base import NetworkBase
from bots.network.common import multiline
from bots.network.matrix import MatrixCallError
from bots.network.schema import ANNOUNCEMENTS, LEFT, NetworkRow
from core.commands import Arg, Option, Role, command
from core.context import Context
from core.messaging import MessagingError, SendError, notice, to_person
from core.text import Text

log = logging.getLogger(__name__)

AGREE_KEYS = {"✅", "✅\ufe0f", "✔️", "✔", "☑️", "☑"}
MAX_TEXT = 12_000  # characters of rules or agreement


class Charter(NetworkBase):
    """The rules and the agreement, and accepting it."""

    async def _fits(self, ctx: Context, text: str) -> bool:
        """Whether rules or an agreement are short enough; explains if not."""
        if len(text) > MAX_TEXT:
            await ctx.reply("network.too_long", length=len(text), limit=MAX_TEXT)
            return False
        return True

    async def _pin(self, room_id: str, event_id: str, replaces: str | None) -> str | None:
        """Pin the message (instead of the one it replaces); the problem, if that failed."""
        try:
            await self.hs.pin(room_id, event_id, replaces=replaces)
        except MatrixCallError as error:
            return str(error)
        return None

    @command(
        "network rules",
        options=[Option("network", placeholder="name")],
        network=True,
        help="network.rules.help",
    )
    async def rules(self, ctx: Context, net: NetworkRow) -> None:
        if not net.rules:
            await ctx.reply(
                "network.rules.none", network=net.name, prefix=self.app.config.bots.command_prefix
            )
            return
        await ctx.reply("network.rules.show", network=net.name, rules=multiline(net.rules))

    @command(
        "network rules set",
        Arg("text", rest=True),
        role=Role.coordinator,
        network=True,
        help="network.rules_set.help",
    )
    async def rules_set(self, ctx: Context, text: str, net: NetworkRow) -> None:
        text = text.strip()
        if not await self._fits(ctx, text):
            return
        room_id = net.rooms[ANNOUNCEMENTS]
        post = self._t(net.language, "network.rules.post", network=net.name, rules=multiline(text))
        try:
            event_id = await notice(self.account, room_id, post, txn=f"{ctx.event_id}/rules")
        except SendError:
            await ctx.reply("network.post_failed")
            return
        problem = await self._pin(room_id, event_id, net.rules_event_id)
        self.data.set_rules(net.id, text, event_id)
        await ctx.reply(
            "network.rules.saved" if problem is None else "network.rules.saved_unpinned",
            network=net.name,
            room=self._t(net.language, f"network.room.{ANNOUNCEMENTS}", network=net.name).body,
            error=problem or "",
        )

    @command(
        "network agreement",
        options=[Option("network", placeholder="name")],
        network=True,
        help="network.agreement.help",
    )
    async def agreement(self, ctx: Context, net: NetworkRow) -> None:
        prefix = self.app.config.bots.command_prefix
        if not net.agreement:
            await ctx.reply("network.agreement.none", network=net.name, prefix=prefix)
            return
        member = self.data.member(net.id, ctx.sender)
        if member is None:
            status = ctx.t("network.agreement.status_outsider")
        elif member.agreed_version == net.agreement_version:
            status = ctx.t("network.agreement.status_agreed", date=ctx.day(member.agreed_at or 0))
        else:
            status = ctx.t("network.agreement.status_open", prefix=prefix)
        shown = ctx.t(
            "network.agreement.show",
            network=net.name,
            version=net.agreement_version,
            agreement=multiline(net.agreement),
        )
        await ctx.reply(Text.join([shown, status], "\n\n"))

    @command(
        "network agreement set",
        Arg("text", rest=True),
        role=Role.coordinator,
        network=True,
        help="network.agreement_set.help",
    )
    async def agreement_set(self, ctx: Context, text: str, net: NetworkRow) -> None:
        text = text.strip()
        if not await self._fits(ctx, text):
            return
        previous = net.agreement_event_id
        net.agreement_version = self.data.set_agreement(net.id, text)
        net.agreement = text
        room_id = net.rooms[ANNOUNCEMENTS]
        event_id = await self._post_agreement(
            net, room_id, net.language, None, f"{ctx.event_id}/agreement"
        )
        if event_id is None:
            await ctx.reply("network.post_failed")
            return
        problem = await self._pin(room_id, event_id, previous)
        await ctx.reply(
            "network.agreement.saved",
            network=net.name,
            version=net.agreement_version,
            prefix=self.app.config.bots.command_prefix,
        )
        if problem:
            await ctx.reply("network.invite.problem", problem=problem)

    @command(
        "network agree",
        options=[Option("network", placeholder="name")],
        role=Role.member,
        network=True,
        help="network.agree.help",
    )
    async def agree(self, ctx: Context, net: NetworkRow) -> None:
        member = self.data.member(net.id, ctx.sender)
        if member is None or member.status == LEFT:
            await ctx.reply("network.agree.not_member", network=net.name)
            return
        if not net.agreement:
            await ctx.reply(
                "network.agreement.none",
                network=net.name,
                prefix=self.app.config.bots.command_prefix,
            )
            return
        if member.agreed_version == net.agreement_version:
            await ctx.reply(
                "network.agree.already",
                network=net.name,
                version=net.agreement_version,
                date=ctx.day(member.agreed_at or 0),
            )
            return
        self.data.agree(net.id, ctx.sender, net.agreement_version, self._now())
        await ctx.reply("network.agree.done", network=net.name, version=net.agreement_version)

    async def _reacted(self, ctx: Context) -> None:
        relation = ctx.incoming.content.get("m.relates_to") or {}
        found = self.data.agreement_message(relation.get("event_id", ""))
        net = self.data.get(found[0]) if found else None
        if net is None or found is None:
            return
        member = self.data.member(net.id, ctx.sender)
        if member is None or member.status == LEFT:
            return
        language = self.service.language_of(member, net)
        if found[1] != net.agreement_version:
            text = self._t(
                language, "network.agree.old_version", network=net.name, version=found[1]
            )
        elif member.agreed_version == net.agreement_version:
            return
        else:
            self.data.agree(net.id, ctx.sender, net.agreement_version, self._now())
            text = self._t(
                language, "network.agree.done", network=net.name, version=net.agreement_version
            )
        try:
            await to_person(self.account, ctx.sender, text, txn=f"{ctx.event_id}/agreed")
        except (MatrixCallError, MessagingError) as error:
            log.warning("could not confirm an agreement", extra={"error": str(error)})
