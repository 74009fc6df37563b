"""`!dir`: search the European directory in chat, and keep this network's own entries.

This network's organisations are edited here (or imported), published as state events into
its directory room, and come back, like every other network's, through the mirror."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from core.account import Incoming
from core.commands import Arg, Bot, Command, Option, Role, UsageError, command
from core.context import Context
from core.i18n import country_name, language_names
from core.messaging import MessagingError, attached_file, download
from core.rooms import MatrixError
from core.text import Text, shorten
from directory.api import api_routes
from directory.hsds import (
    REFERENCES,
    Address,
    Organization,
    RecordError,
    Service,
    scalar_fields,
    to_dict,
    validate,
)
from directory.io import read_import, save_import
from directory.mirror import Mirror, mirror_migrations
from directory.publishing import PublisherLock, data_version, unpublished, watch
from directory.store import Directory, ShownOrganization
from directory.web import directory_routes
from federation.membership import directory_room, revoke
from federation.rooms import (
    KEY_DIRECTORY_ROOM,
    KEY_SPACE,
    ORGANIZATION,
    SPACE_PARENT,
    linked,
    server_of,
)

log = logging.getLogger(__name__)

FILTERS = (
    Option("country", str.upper, placeholder="BE"),
    Option("city", placeholder="Gent"),
    Option("lang", str.lower, placeholder="de"),
    Option("service", placeholder="mentoring"),
    Option("group", placeholder="refugees"),
)
# Changing the instance's entries: coordinators and Meta-Mentors of its networks, configured
# editors and admins, organisation representatives (see `DirectoryBot.permits`).
EDITOR = Role.coordinator
REPRESENTATIVE = "organisation"
# Short names for some fields of `!dir add` and `!dir edit`.
SHORT_NAMES = {"year_incorporated": "year", "address_1": "address"}
SERVICE_OPTIONS = {
    "service": "name",
    "groups": "target_groups",
    "fees": "fees_description",
    "service_description": "description",
}


def edit_fields() -> dict[str, tuple[str | int, ...]]:
    """Each `field:value` option of `!dir add/edit` and where it goes in the record: the
    organisation's own fields, its first location's address, first phone and first service,
    as the record models name them."""
    skip = {"id", "address_type", *REFERENCES}
    own = [name for name in scalar_fields(Organization) if name not in skip]
    address = [name for name in scalar_fields(Address) if name not in skip]
    fields: dict[str, tuple[str | int, ...]] = {
        SHORT_NAMES.get(name, name): (name,) for name in [*own, "languages"]
    }
    for name in address:
        fields[SHORT_NAMES.get(name, name)] = ("locations", 0, "addresses", 0, name)
    fields["phone"] = ("phones", 0, "number")
    for option, name in SERVICE_OPTIONS.items():
        assert name in Service.model_fields, name
        fields[option] = ("services", 0, name)
    return fields


EDIT_FIELDS = edit_fields()
EDIT_OPTIONS = tuple(Option(name) for name in EDIT_FIELDS)


class DirectoryBot(Bot):
    name = "dir"
    featured = ("dir search", "dir show", "dir add")
    migrations = mirror_migrations
    bulky_state_types = (ORGANIZATION,)
    sees_own_events = True  # our own published entries come back through the mirror too

    def __init__(self, app: Any) -> None:
        self.app = app
        self.directory = Directory(app.store)
        self.mirror = Mirror(app.store, self.directory)
        self._searches: dict[tuple[str, str], dict[str, Any]] = {}
        self._space_seen: str | None = None
        self._publishing = asyncio.Lock()
        self._publisher = PublisherLock(app.store.path)
        self._watch: asyncio.Task[None] | None = None

    # --- life cycle and federation ---------------------------------------------------------

    async def start(self) -> None:
        account = self.app.account
        if not await self._publisher.acquire():
            log.warning("another running instance publishes from this database")
        seen = data_version(self.app.store)  # what others commit from now on is watched
        room_id = await directory_room(account, self.app.config)
        await self.mirror.finish_drops()  # what a stop or crash cut short
        await self.publish()  # before following, so the first copy of our room includes it
        if room_id not in self.mirror.followed():
            await self.mirror.follow(account, room_id, [server_of(account.user_id)])
        await self._follow_space()
        self._watch = asyncio.create_task(watch(self.app.store, self._changed_elsewhere, seen))

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        self._publisher.release()

    async def tick(self, now: datetime) -> None:
        await self.publish()
        await self._follow_space()

    async def _changed_elsewhere(self) -> None:
        """Another process wrote to the database (an import, joining or leaving the space on
        the command line): publish and follow at once rather than at the next tick."""
        await self.publish()
        await self._follow_space()

    async def _follow_space(self) -> None:
        """Catch up with the space when it changed (joined or left from the command line)."""
        space = self.app.store.get(KEY_SPACE) or self.app.config.directory.space
        if space == self._space_seen:
            return
        if space and not self.app.store.get(KEY_SPACE):
            self.app.store.put(KEY_SPACE, space)
        if space:
            await self.mirror.sync_space(self.app.account)
        else:
            own = self.app.store.get(KEY_DIRECTORY_ROOM)
            for room_id in self.mirror.followed() - {own}:
                await self.mirror.unfollow(room_id)
        self._space_seen = space  # only once it worked: a failed read is tried again

    async def publish(self) -> int:
        """Send every local change as a state event into our directory room (one run at a
        time: a change is sent once); returns how many were sent."""
        async with self._publishing:
            return await self._publish()

    async def _publish(self) -> int:
        room_id = self.app.store.get(KEY_DIRECTORY_ROOM)
        if not room_id:
            return 0
        sent = 0
        for change in self.directory.pending():
            try:
                event_id = await self.app.account.rooms.put_state(
                    room_id, ORGANIZATION, change.org_id, change.content
                )
            except MatrixError as error:
                log.warning("could not publish", extra={"org": change.org_id, "error": str(error)})
                continue
            self.directory.mark_published(change.org_id, event_id, change.revision)
            sent += 1
        return sent

    def wants(self, incoming: Incoming) -> bool:
        return self.mirror.wants(incoming)

    def routes(self) -> list[web.RouteDef]:
        return [
            *directory_routes(self.directory, self.app.config),
            *api_routes(self.directory, self.app.config),
        ]

    async def on_event(self, ctx: Context) -> None:
        event = ctx.incoming.event
        await self.mirror.on_event(ctx.account, ctx.incoming)
        # A network left the space (its room's parent link is gone): as a space admin, take
        # back its posting level.
        if (
            event["type"] == SPACE_PARENT
            and event["state_key"] == self.mirror.space_id
            and not linked(event.get("content"))
        ):
            await revoke(self.app.account, ctx.room_id)

    # --- searching -------------------------------------------------------------------------

    @command(
        "dir search", Arg("text", optional=True, rest=True), options=FILTERS, help="dir.search.help"
    )
    async def search(self, ctx: Context, text: str | None, **filters: str | None) -> None:
        query = {"text": text, **filters}
        if not any(query.values()):
            raise UsageError("dir.search.empty")
        self._searches[(ctx.sender, ctx.room_id)] = {**query, "page": 1}
        await self._show_page(ctx, query, 1)

    @command("dir more", help="dir.more.help")
    async def more(self, ctx: Context) -> None:
        query = self._searches.get((ctx.sender, ctx.room_id))
        if query is None:
            await ctx.reply("dir.more.none")
            return
        query["page"] += 1
        await self._show_page(ctx, {k: v for k, v in query.items() if k != "page"}, query["page"])

    async def _show_page(self, ctx: Context, query: dict[str, Any], page: int) -> None:
        size = self.app.config.directory.page_size
        result = self.directory.search(
            query["text"],
            country=query["country"],
            city=query["city"],
            language=query["lang"],
            service=query["service"],
            target_group=query["group"],
            page=page,
            per_page=size,
        )
        if not result.items:
            await ctx.reply("dir.search.none" if page == 1 else "dir.more.end")
            return
        first = (page - 1) * size + 1
        lines = [self._summary(ctx, shown) for shown in result.items]
        header = ctx.t(
            "dir.search.header", first=first, last=first + len(lines) - 1, total=result.total
        )
        footer = [ctx.t("dir.search.more")] if result.total > first + len(lines) - 1 else []
        await ctx.reply(Text.join([header, Text.bullets(lines), *footer]))

    def _summary(self, ctx: Context, shown: ShownOrganization) -> Text:
        org = shown.organization
        country = org.country and country_name(org.country, ctx.language)
        place = ", ".join(part for part in (org.city, country) if part)
        languages = language_names(org.languages, ctx.language)
        parts = [ctx.t("dir.search.item", name=org.name)]
        parts += [Text.plain(place)] if place else []
        parts += [ctx.t("dir.search.languages", languages=languages)] if languages else []
        parts += [Text.plain(org.website)] if org.website else []
        networks = ", ".join(sorted({source.network for source in shown.sources}))
        parts.append(ctx.t("dir.search.listed", networks=networks, id=shown.id))
        return Text.join(parts, " · ")

    @command("dir show", Arg("id"), help="dir.show.help")
    async def show(self, ctx: Context, id: str) -> None:
        shown = self.directory.get(id)
        if shown is None:
            await ctx.reply("dir.show.unknown", id=id)
            return
        await ctx.reply(self._details(ctx, shown))

    def _details(self, ctx: Context, shown: ShownOrganization) -> Text:
        org = shown.organization
        facts = [
            ctx.t(
                "dir.show.title",
                name=org.name,
                alternate=f" ({org.alternate_name})" if org.alternate_name else "",
            ),
            *(
                ctx.t(f"dir.field.{label}", value=value)
                for label, value in (
                    ("description", shorten(org.description or "", 2000)),
                    ("website", org.website),
                    ("email", org.email),
                    ("legal_status", org.legal_status),
                    ("year", org.year_incorporated),
                    ("languages", language_names(org.languages, ctx.language)),
                    ("phones", ", ".join(phone.number for phone in org.phones)),
                )
                if value
            ),
        ]
        for location in org.locations:
            place = ", ".join(
                p
                for p in (
                    location.address_1,
                    location.postal_code,
                    location.city,
                    location.country and country_name(location.country, ctx.language),
                )
                if p
            )
            facts.append(ctx.t("dir.field.location", value=place))
        for service in org.services:
            facts.append(_service(ctx, service))
        sources = [
            ctx.t(
                "dir.field.source",
                network=s.network,
                homeserver=s.homeserver,
                when=ctx.day(s.origin_ts / 1000),
            )
            if s.origin_ts
            else ctx.t("dir.field.source_undated", network=s.network, homeserver=s.homeserver)
            for s in shown.sources
        ]
        return Text.join([*facts, ctx.t("dir.show.sources"), Text.bullets(sources)])

    @command("dir stats", help="dir.stats.help")
    async def stats(self, ctx: Context) -> None:
        stats = self.directory.stats()
        countries = [
            ctx.t("dir.stats.row", label=country_name(k, ctx.language), count=v)
            for k, v in stats["by_country"].items()
        ]
        networks = [
            ctx.t("dir.stats.row", label=k, count=v) for k, v in stats["by_network"].items()
        ]
        await ctx.reply(
            Text.join(
                [
                    ctx.t("dir.stats.countries"),
                    Text.bullets(countries[:30]) if countries else ctx.t("dir.stats.empty"),
                    ctx.t("dir.stats.networks"),
                    Text.bullets(networks) if networks else ctx.t("dir.stats.empty"),
                ]
            )
        )

    # --- this network's entries ------------------------------------------------------------

    async def permits(
        self, ctx: Context, cmd: Command, arguments: dict[str, Any] | None
    ) -> bool | None:
        """Who may change the instance's entries (`!dir add`, `edit`, `remove`, `import`):
        they belong to its directory room, not to the room a command is sent in. The
        configured editors and admins, and the Meta-Mentors and coordinators (by their level
        in the rooms of a network on this instance) and organisation representatives (by
        their role) of its networks. Explains a refusal unless `!help` only asks."""
        if await self._is_editor(ctx):
            return True
        if arguments is not None:
            await ctx.reply("dir.refused")
        return False

    async def _is_editor(self, ctx: Context) -> bool:
        editors = self.app.config.directory.editors
        if ctx.is_admin or any(fnmatch.fnmatchcase(ctx.sender, glob) for glob in editors):
            return True
        if await ctx.network_level(anywhere=True) >= Role.coordinator:
            return True
        return REPRESENTATIVE in self._network_roles(ctx.sender)

    def _network_roles(self, user_id: str) -> set[str]:
        """The person's roles in the networks of this instance they have not left."""
        return {role for bot in self.app.bots for role in bot.network_roles(user_id)}

    @command(
        "dir add", Arg("name", rest=True), options=EDIT_OPTIONS, role=EDITOR, help="dir.add.help"
    )
    async def add(self, ctx: Context, name: str, **fields: str | None) -> None:
        record = _apply_fields({}, {**fields, "name": name})
        await self._save(ctx, record, "dir.add.done")

    @command("dir edit", Arg("id"), options=EDIT_OPTIONS, role=EDITOR, help="dir.edit.help")
    async def edit(self, ctx: Context, id: str, **fields: str | None) -> None:
        current = self.directory.local(id)
        if current is None:
            await ctx.reply("dir.edit.unknown", id=id)
            return
        if not any(value is not None for value in fields.values()):
            raise UsageError("dir.edit.nothing")
        await self._save(ctx, _apply_fields(to_dict(current), fields), "dir.edit.done")

    async def _save(self, ctx: Context, record: dict[str, Any], done: str) -> None:
        try:
            org = validate(record)
        except RecordError as error:
            await ctx.reply("dir.invalid", problems="; ".join(str(e) for e in error.errors))
            return
        self.directory.save_local(org)
        await self.publish()
        await ctx.reply(done, name=org.name, id=org.id, publication=self._publication(ctx))

    @command("dir remove", Arg("id"), role=EDITOR, help="dir.remove.help")
    async def remove(self, ctx: Context, id: str) -> None:
        if not self.directory.remove_local(id):
            await ctx.reply("dir.edit.unknown", id=id)
            return
        await self.publish()
        await ctx.reply("dir.remove.done", id=id, publication=self._publication(ctx))

    @command("dir import", role=EDITOR, help="dir.import.help")
    async def import_file(self, ctx: Context) -> None:
        content = await attached_file(ctx)
        if content is None:
            await ctx.reply("dir.import.no_file")
            return
        try:
            data = await download(ctx.account, content)
        except MessagingError as error:
            await ctx.reply("dir.import.unreadable", reason=str(error))
            return
        report = await read_import(data, content.get("filename") or content.get("body") or "")
        if report.errors:
            problems = [Text.plain(str(problem)) for problem in report.errors[:20]]
            more = len(report.errors) - len(problems)
            await ctx.reply(
                Text.join(
                    [ctx.t("dir.import.rejected", count=len(report.errors)), Text.bullets(problems)]
                    + ([ctx.t("dir.import.more_errors", count=more)] if more > 0 else [])
                )
            )
            return
        counts = save_import(self.directory, report)
        await self.publish()
        changed = counts.added + counts.updated
        done = ctx.t(
            "dir.import.done",
            added=counts.added,
            updated=counts.updated,
            unchanged=counts.unchanged,
            publication=self._publication(ctx) if changed else ctx.t("dir.publication.none").body,
        )
        if not report.warnings:
            await ctx.reply(done)
            return
        shown = [Text.plain(warning) for warning in report.warnings[:20]]
        more = len(report.warnings) - len(shown)
        await ctx.reply(
            Text.join(
                [done, ctx.t("dir.import.left_out", count=len(report.warnings))]
                + [Text.bullets(shown)]
                + ([ctx.t("dir.import.more_errors", count=more)] if more > 0 else [])
            )
        )

    def _publication(self, ctx: Context) -> str:
        """Whether our changes went out, in words: all published, or how many still wait
        (the homeserver did not take them; every tick and every change tries again)."""
        left = unpublished(self.directory)
        key = "dir.publication.later" if left else "dir.publication.done"
        return ctx.t(key, count=left).body


def _apply_fields(record: dict[str, Any], fields: dict[str, str | None]) -> dict[str, Any]:
    """Put flat `field:value` pairs into an HSDS record (first location, phone, service)."""
    for option, value in fields.items():
        if value is not None:
            _put(record, EDIT_FIELDS[option], value)
    return record


def _put(record: Any, path: tuple[str | int, ...], value: str) -> None:
    """Set the value at `path`, making the objects and first list items on the way."""
    *way, last = path
    for step, following in zip(way, path[1:], strict=True):
        if isinstance(step, int):
            if not record:
                record.append({})
            record = record[step]
        else:
            empty: Any = [] if isinstance(following, int) else {}
            record = record.setdefault(step, empty)
    record[last] = value


def _service(ctx: Context, service: Any) -> Text:
    """A service: its name, then whom it is for and its languages where given."""
    parts = [ctx.t("dir.field.service", name=service.name)]
    if service.target_groups:
        groups = ", ".join(service.target_groups)
        parts.append(ctx.t("dir.field.service_groups", groups=groups))
    languages = language_names(service.language_codes, ctx.language)
    if languages:
        parts.append(ctx.t("dir.field.service_languages", languages=languages))
    return Text.join(parts, "; ")
