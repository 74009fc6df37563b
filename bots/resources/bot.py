"""`!resource` (short `!res`): the network's shared library of links and files, rated with 👍,
searched with FTS5; what is marked public is exchanged with the other networks of the
European space through its resource-exchange room (see `bots.resources.exchange`)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bots.network.schema import RESOURCES
from bots.resources.alias import run_alias
from bots.resources.catalogue import Catalogue
from bots.resources.exchange import Exchange, may_redact, redacted_id
from bots.resources.intake import is_captioned_file, shared_file, shared_link
from bots.resources.ledger import Ledger
from bots.resources.links import Refused, clean_language, clean_tags
from bots.resources.outbox import Outbox
from bots.resources.replies import (
    announcement,
    details,
    public_summary,
    public_when,
    results,
    summary,
)
from bots.resources.schema import resource_migrations
from bots.resources.search import Page
from bots.resources.store import Library, Resource, Shared
from bots.resources.web import resources_routes
from core.account import Account, Incoming
from core.commands import Arg, Bot, Option, Role, Scope, UsageError, command
from core.context import Context
from core.text import Text
from federation.rooms import RESOURCE

if TYPE_CHECKING:
    from core.app import App

LONG = "resource"
PAGE_SIZE = 8
THUMBS_UP = "👍"  # with or without a skin tone or variation selector


def _number(raw: str) -> int:
    """A resource number as shown (`12` or `#12`)."""
    digits = raw.removeprefix("#")
    if not digits.isdigit() or not 0 < int(digits) < 2**53:
        raise ValueError("a resource number like 12 or #12")
    return int(digits)


def _page(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= 1000:
        raise ValueError("a page number from 1 to 1000")
    return int(raw)


LANG = Option("lang", placeholder="de")
FILTERS = (LANG, Option("page", _page, placeholder="2"))
SEARCH_OPTIONS = (*FILTERS, Option("scope", choices=("local", "europe")))
SHARE_OPTIONS = (LANG, Option("description", placeholder='"…"'))


class ResourceBot(Bot):
    name = LONG
    featured = ("resource search", "resource share", "resource list")
    migrations = resource_migrations

    def __init__(self, app: App) -> None:
        self.app = app
        poster = app.config.bots.accounts.get(self.name, app.config.matrix).user_id
        self.library = Library(app.store, app.config.directory.network, poster)
        self.ledger = Ledger(self.library)
        self.catalogue = Catalogue(app.store)
        self.exchange = Exchange(
            app.store, app.config, Outbox(self.library), self.catalogue, lambda: self.account
        )

    @property
    def account(self) -> Account:
        return self.app.accounts[self.app.account_of_bot(self)]

    async def tick(self, now: datetime) -> None:
        await self.exchange.tick()

    async def start(self) -> None:
        await self.exchange.publish_now(wait=0)  # what waited while we were down goes now

    async def stop(self) -> None:
        await self.exchange.stop()

    def routes(self) -> list[web.RouteDef]:
        return resources_routes(self.catalogue)

    async def room_upgraded(self, old_room: str, new_room: str) -> None:
        self.ledger.move_room(old_room, new_room)

    def personal_data(self, user_id: str) -> dict[str, Any]:
        return self.ledger.personal_data(user_id)

    async def forget_person(self, user_id: str) -> None:
        self.ledger.forget(user_id)
        await self.exchange.flush()  # what only they shared is withdrawn from Europe too

    # --- sharing ---------------------------------------------------------------------------

    @command("res", Arg("words", optional=True, rest=True), help="res.alias.help")
    async def short(self, ctx: Context, words: str | None) -> None:
        await run_alias(self.app, ctx, LONG, words)

    @command(
        "resource share",
        Arg("link"),
        Arg("title"),
        Arg("visibility", optional=True, choices=("public",)),
        options=SHARE_OPTIONS,
        tags=True,
        help="res.share.help",
    )
    async def share(
        self,
        ctx: Context,
        link: str,
        title: str,
        visibility: str | None,
        lang: str | None,
        description: str | None,
        tags: list[str],
    ) -> None:
        try:
            shared = shared_link(
                sharer=ctx.sender,
                room_id=ctx.room_id,
                event_id=ctx.event_id,
                link=link,
                title=title,
                tags=tags,
                language=lang,
                description=description,
                public=visibility == "public",
                encrypted_room=self._encrypted(ctx.room_id),
            )
        except Refused as refused:
            await ctx.reply(refused.key, **refused.values)
            return
        await self._keep(ctx, shared)

    async def _keep(self, ctx: Context, shared: Shared, note: Text | None = None) -> None:
        """Store what was shared, post it at once if public, and announce it as it then
        stands; 👍 on the announcement rate it."""
        resource, new = self.library.share(shared)
        if resource.public:
            await self.exchange.publish_now()
        text = announcement(ctx, resource, new, self.exchange.public_status(resource.id))
        event_id = await ctx.reply(Text.join([text, note]) if note else text)
        if event_id:
            self.ledger.announce(event_id, resource.id)

    def _encrypted(self, room_id: str) -> bool:
        room = self.account.client.rooms.get(room_id)
        return bool(room and room.encrypted)

    # --- finding ---------------------------------------------------------------------------

    @command(
        "resource search",
        Arg("text", optional=True, rest=True),
        options=SEARCH_OPTIONS,
        tags=True,
        help="res.search.help",
    )
    async def search(
        self,
        ctx: Context,
        text: str | None,
        lang: str | None,
        page: int | None,
        scope: str | None,
        tags: list[str],
    ) -> None:
        if not (text or tags or lang):
            raise UsageError("res.search.empty")
        tags, language = _filters(tags, lang)
        found: Page[Any]
        if scope == "europe":
            found = self.catalogue.search(
                text, tags=tags, language=language, page=page or 1, per_page=PAGE_SIZE
            )
            lines = [public_summary(ctx, item) for item in found.items]
        else:
            found = self.library.search(
                text,
                room_id=ctx.room_id,
                tags=tags,
                language=language,
                page=page or 1,
                per_page=PAGE_SIZE,
            )
            lines = [summary(ctx, resource) for resource in found.items]
        if not lines:
            await ctx.reply("res.search.none")
            return
        await ctx.reply(results(ctx, found, lines, "res.search.more"))

    @command("resource list", options=FILTERS, tags=True, help="res.list.help")
    async def listing(
        self, ctx: Context, lang: str | None, page: int | None, tags: list[str]
    ) -> None:
        tags, language = _filters(tags, lang)
        found = self.library.search(
            None, room_id=ctx.room_id, tags=tags, language=language, page=page or 1,
            per_page=PAGE_SIZE,
        )  # fmt: skip
        if not found.items:
            await ctx.reply("res.list.none")
            return
        lines = [summary(ctx, resource) for resource in found.items]
        await ctx.reply(results(ctx, found, lines, "res.list.more"))

    @command("resource show", Arg("number", _number), help="res.show.help")
    async def show(self, ctx: Context, number: int) -> None:
        resource = self.library.visible(number, ctx.room_id)
        if resource is None:
            await ctx.reply("res.unknown", id=number)
            return
        await ctx.reply(details(ctx, resource))

    @command("resource tags", help="res.tags.help")
    async def tag_cloud(self, ctx: Context) -> None:
        counts = self.library.tag_counts(ctx.room_id)[:60]
        if not counts:
            await ctx.reply("res.tags.none")
            return
        items = [ctx.t("res.tags.item", tag=tag, count=count) for tag, count in counts]
        await ctx.reply(Text.join([ctx.t("res.tags.header"), Text.join(items, " · ")]))

    # --- changing --------------------------------------------------------------------------

    async def _changeable(self, ctx: Context, number: int) -> Resource | None:
        """The resource, if the asker shared it, is an admin or coordinates a network of this
        instance (the library is the instance's: their level in its networks' rooms counts,
        not their level in the room they ask in); else they are told."""
        resource = self.library.visible(number, ctx.room_id)
        if resource is None:
            await ctx.reply("res.unknown", id=number)
            return None
        if ctx.sender in resource.sharers or ctx.is_admin:
            return resource
        if await ctx.network_level(anywhere=True) >= Role.coordinator:
            return resource
        await ctx.reply("res.refused.change", id=number)
        return None

    @command("resource remove", Arg("number", _number), help="res.remove.help")
    async def remove(self, ctx: Context, number: int) -> None:
        resource = await self._changeable(ctx, number)
        if resource is None:
            return
        self.library.remove(resource.id)
        await self.exchange.flush()
        key = "res.removed_public" if resource.public else "res.removed"
        await ctx.reply(key, id=resource.id, title=resource.title)

    @command("resource publish", Arg("number", _number), help="res.publish.help")
    async def publish(self, ctx: Context, number: int) -> None:
        resource = await self._changeable(ctx, number)
        if resource is None:
            return
        if resource.encrypted:
            await ctx.reply("res.refused.encrypted_public")
            return
        if not resource.public:
            self.library.set_public(resource.id, True)
            await self.exchange.publish_now()
        status = self.exchange.public_status(resource.id)
        if status == "posted":
            await ctx.reply("res.published", id=resource.id, title=resource.title)
            return
        when = public_when(ctx, status)
        await ctx.reply("res.published_later", id=resource.id, title=resource.title, when=when)

    @command("resource unpublish", Arg("number", _number), help="res.unpublish.help")
    async def unpublish(self, ctx: Context, number: int) -> None:
        resource = await self._changeable(ctx, number)
        if resource is None:
            return
        if resource.public:
            self.library.set_public(resource.id, False)
            await self.exchange.flush()
        await ctx.reply("res.unpublished", id=resource.id, title=resource.title)

    @command(
        "resource files",
        Arg("state", optional=True, choices=("on", "off")),
        role=Role.coordinator,
        scope=Scope.room,
        help="res.files.help",
    )
    async def files(self, ctx: Context, state: str | None) -> None:
        """Whether uploads to this room are catalogued. It concerns only this room's uploads
        (each still its uploader's, as with `!res share`), so the room's own power levels
        decide: a room someone created is theirs to set up."""
        if state is not None and not self._is_network_resources_room(ctx.room_id):
            self.ledger.set_file_room(ctx.room_id, ctx.sender, state == "on")
        on = self._accepts_files(ctx.room_id)
        await ctx.reply("res.files.on" if on else "res.files.off")

    # --- events: uploads, 👍, redactions, the exchange room ----------------------------------

    def wants(self, incoming: Incoming) -> bool:
        event, content, room = incoming.event, incoming.content, incoming.room_id
        kind = event.get("type")
        if kind == RESOURCE:
            return room == self.exchange.room_id and "state_key" not in event
        if kind == "m.room.power_levels":  # an approval lets what waits go out at once
            return room == self.exchange.room_id and self.exchange.waiting()
        if kind == "m.reaction":
            relation = content.get("m.relates_to") or {}
            return (
                relation.get("rel_type") == "m.annotation"
                and str(relation.get("key", "")).startswith(THUMBS_UP)
                and self.ledger.announced(str(relation.get("event_id", ""))) is not None
            )
        if kind == "m.room.redaction":
            target = redacted_id(event) or ""
            return (
                self.ledger.voter(target) is not None
                or self.library.by_event(target) is not None
                or (room == self.exchange.room_id and self.catalogue.poster(target) is not None)
            )
        if kind == "m.room.message":
            prefix = self.app.config.bots.command_prefix
            return is_captioned_file(content, prefix) and self._accepts_files(room)
        return False

    async def on_event(self, ctx: Context) -> None:
        kind = ctx.incoming.event["type"]
        if kind == RESOURCE:
            await self.exchange.receive(ctx.room_id, ctx.incoming.event)
        elif kind == "m.room.power_levels":
            await self.exchange.publish_now(wait=0)
        elif kind == "m.reaction":
            relation = ctx.incoming.content["m.relates_to"]
            resource_id = self.ledger.announced(relation["event_id"])
            if resource_id is not None:
                self.ledger.vote(resource_id, ctx.sender, ctx.event_id)
        elif kind == "m.room.redaction":
            await self._redacted(ctx)
        elif kind == "m.room.message":
            await self._file(ctx)

    async def _file(self, ctx: Context) -> None:
        try:
            shared, refused_public = shared_file(
                sharer=ctx.sender,
                room_id=ctx.room_id,
                event_id=ctx.event_id,
                content=ctx.incoming.content,
                encrypted_room=self._encrypted(ctx.room_id),
            )
        except Refused as refused:
            await ctx.reply(refused.key, **refused.values)
            return
        note = ctx.t("res.refused.encrypted_public") if refused_public else None
        await self._keep(ctx, shared, note)

    async def _redacted(self, ctx: Context) -> None:
        """A redacted 👍 stops counting; a redacted upload leaves the library; a redacted
        exchange post leaves the mirror. Others' redactions count only with the power."""
        event, room = ctx.incoming.event, ctx.room_id
        target = redacted_id(event) or ""
        if room == self.exchange.room_id and await self.exchange.redacted(room, event):
            return
        voter = self.ledger.voter(target)
        if voter is not None and (
            voter == ctx.sender or await may_redact(ctx.account, room, ctx.sender)
        ):
            self.ledger.unvote(target)
        resource_id = self.library.by_event(target)
        resource = self.library.get(resource_id) if resource_id is not None else None
        if resource is not None and (
            ctx.sender in resource.sharers or await may_redact(ctx.account, room, ctx.sender)
        ):
            self.library.remove(resource.id)
            await self.exchange.flush()

    # --- rooms whose uploads are catalogued -------------------------------------------------

    def _accepts_files(self, room_id: str) -> bool:
        """A network's resources room always; other rooms once a coordinator said so."""
        return self.ledger.is_file_room(room_id) or self._is_network_resources_room(room_id)

    def _is_network_resources_room(self, room_id: str) -> bool:
        try:
            row = self.app.store.db.execute(
                "SELECT 1 FROM network_rooms WHERE room_id = ? AND purpose = ?",
                [room_id, RESOURCES],
            ).fetchone()
        except sqlite3.OperationalError:  # no network bot in this instance
            return False
        return row is not None


def _filters(tags: list[str], lang: str | None) -> tuple[list[str], str | None]:
    """Tag and language filters, checked; a bad one is a usage error."""
    try:
        return clean_tags(tags), clean_language(lang)
    except Refused as refused:
        raise UsageError(refused.key, **refused.values) from None
