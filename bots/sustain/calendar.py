"""`!events feed`: a network's meetings as an iCalendar feed on the web listener,
`/networks/<id>/events.ics?token=…`. Meeting titles may be private, so the feed answers only
with the network's unguessable token; a member gets the link in their direct chat, and a
coordinator replaces it (`!events feed renew`) when it went where it should not."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bots.network.common import reply_privately
from bots.network.schema import NetworkRow
from bots.sustain import ical
from bots.sustain.common import DAY, NETWORK, SustainBot
from bots.sustain.events import Event, events_of, save_setting, settings
from core.commands import Role, command
from core.context import Context

FEED_PAST_DAYS = 90


class Calendar(SustainBot):
    name = "calendar"
    featured = ("events feed",)

    @command(
        "events feed",
        options=[NETWORK],
        role=Role.member,
        network=True,
        help="sustain.events.feed.help",
    )
    async def feed(self, ctx: Context, net: NetworkRow) -> None:
        token = settings(self.db, net.id)[1]
        if token is None:
            token = secrets.token_urlsafe(24)
            save_setting(self.db, net.id, "feed_token", token)
        await self._send(ctx, net, token)

    @command(
        "events feed renew",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.events.renew.help",
    )
    async def renew(self, ctx: Context, net: NetworkRow) -> None:
        token = secrets.token_urlsafe(24)
        save_setting(self.db, net.id, "feed_token", token)
        await self._send(ctx, net, token, renewed=True)

    async def _send(self, ctx: Context, net: NetworkRow, token: str, renewed: bool = False) -> None:
        """The link holds a secret: it goes only to the asker's direct chat."""
        web_config = self.app.config.web
        base = (web_config.public_url or f"http://{web_config.listen}").rstrip("/")
        url = f"{base}/networks/{net.id}/events.ics?token={token}"
        key = "sustain.events.feed.renewed" if renewed else "sustain.events.feed.link"
        await reply_privately(ctx, ctx.t(key, network=net.name, url=url))

    # --- the web -----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/networks/{network_id:\\d+}/events.ics", self.ics)]

    async def ics(self, request: web.Request) -> web.Response:
        """The feed; 404 unless the token matches."""
        net = self.data.get(int(request.match_info["network_id"]))
        token = settings(self.db, net.id)[1] if net else None
        given = request.query.get("token", "")
        if net is None or token is None or not secrets.compare_digest(given, token):
            raise web.HTTPNotFound()
        since = self.now() - FEED_PAST_DAYS * DAY
        entries = [self._vevent(net, event) for event in events_of(self.db, net.id, since)]
        return web.Response(
            body=ical.calendar(net.name, entries).encode(),
            content_type="text/calendar",
            charset="utf-8",
            headers={"Cache-Control": "private, max-age=300"},
        )

    def _vevent(self, net: NetworkRow, event: Event) -> ical.VEvent:
        start = datetime.fromtimestamp(event.starts_at, UTC)
        place = event.place or ""
        url = ""
        if re.match(r"^https?://\S+$", place):
            url = place
        elif re.match(r"^[#!][^\s:]+:\S+$", place):  # a Matrix room alias or id
            url = f"https://matrix.to/#/{place}"
        kind = self.t(net.language, f"sustain.event.kind.{event.kind}").body
        return ical.VEvent(
            uid=f"event-{event.id}-{net.id}@{self.server}",
            start=start,
            end=start + timedelta(minutes=event.minutes),
            summary=event.title,
            stamp=datetime.fromtimestamp(event.created_at, UTC),
            description=kind,
            location=place,
            url=url,
            categories=[kind],
            cancelled=bool(event.cancelled_at),
        )
