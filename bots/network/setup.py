"""Setting a network up: `!network create` (the space and its rooms) and
`!network info`."""

from __future__ import annotations

from bots.network.base import NetworkBase
from bots.network.common import counted
from bots.network.matrix import MatrixCallError, RoomPlan
from bots.network.schema import JOINED, LEFT, PENDING, ROOMS, SPACE, Member, NetworkRow
from core.commands import Arg, Option, Role, command
from core.config import LANGUAGES
from core.context import Context
from core.i18n import language_name
from core.text import Text


class Setup(NetworkBase):
    """`!network create` and `!network info`."""

    @command(
        "network create",
        Arg("name"),
        options=[Option("lang", choices=LANGUAGES)],
        help="network.create.help",
    )
    async def create(self, ctx: Context, name: str, lang: str | None) -> None:
        name = " ".join(name.split())
        if not (ctx.is_admin or self.app.config.invite_allowed(ctx.sender)):
            await ctx.reply("network.create.not_allowed")
            return
        if not 2 <= len(name) <= 80:
            await ctx.reply("network.create.bad_name")
            return
        if self.data.by_name(name) is not None:
            await ctx.reply("network.create.exists", name=name)
            return
        language = lang or ctx.language
        plans = [
            RoomPlan(
                purpose,
                self._t(language, f"network.room.{purpose}", network=name).body,
                self._t(language, f"network.topic.{purpose}", network=name).body,
            )
            for purpose in (SPACE, *ROOMS)
        ]
        try:
            rooms = await self.hs.create_network(ctx.sender, plans[0], plans[1:])
        except MatrixCallError as error:
            await ctx.reply("network.create.failed", error=str(error))
            return
        now = self._now()
        network_id = self.data.create(name, language, rooms, ctx.sender, now)
        self.data.save_member(
            Member(network_id, ctx.sender, "meta-mentor", PENDING, invited_at=now)
        )
        self._reload()
        await ctx.reply(
            "network.create.done",
            network=name,
            lang_name=language_name(language, ctx.language),
            prefix=self.app.config.bots.command_prefix,
        )

    @command(
        "network info",
        options=[Option("network", placeholder="name")],
        role=Role.member,
        network=True,
        help="network.info.help",
    )
    async def info(self, ctx: Context, net: NetworkRow) -> None:
        members = [m for m in self.data.members(net.id) if m.status != LEFT]
        by_role = {
            role: [m.user_id for m in members if m.role == role]
            for role in ("meta-mentor", "coordinator")
        }
        room_names = [
            ctx.t(f"network.room.{purpose}", network=net.name).body
            for purpose in ROOMS
            if purpose in net.rooms
        ]
        agreed = sum(1 for m in members if m.agreed_version == net.agreement_version)
        agreement = (
            ctx.t(
                "network.info.agreement",
                version=net.agreement_version,
                agreed=agreed,
                total=len(members),
            )
            if net.agreement
            else ctx.t("network.info.no_agreement")
        )
        lines = [
            ctx.t(
                "network.info.title",
                network=net.name,
                lang_name=language_name(net.language, ctx.language),
            ),
            ctx.t(
                "network.info.space",
                link=f"https://matrix.to/#/{net.space}?via={self.hs.server_name}",
            ),
            ctx.t("network.info.rooms", rooms=", ".join(room_names)),
            counted(
                ctx,
                "network.info.members",
                {
                    "joined": sum(1 for m in members if m.status == JOINED),
                    "pending": sum(1 for m in members if m.status == PENDING),
                },
                total=len(members),
            ),
            *[
                ctx.t(f"network.info.{key}", people=ctx.names.many(by_role[role]))
                for role, key in (("meta-mentor", "meta"), ("coordinator", "coordinators"))
                if by_role[role]
            ],
            ctx.t("network.info.rules_set" if net.rules else "network.info.no_rules"),
            agreement,
            ctx.t("network.info.created", date=ctx.day(net.created_at)),
        ]
        await ctx.reply(Text.join(lines))
