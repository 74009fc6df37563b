"""How resources read in chat. Every value goes through the catalogue's templates, which
insert it escaped: a title like `<b onclick=…>` is shown as typed, never as markup."""

from __future__ import annotations

from urllib.parse import quote

from bots.resources.catalogue import PublicResource
from bots.resources.search import Page
from bots.resources.store import Resource
from core.context import Context
from core.i18n import language_names
from core.text import Text, shorten


def event_link(room_id: str, event_id: str) -> str:
    """A matrix.to link to a message: how a file shared in a room is opened from elsewhere."""
    return f"https://matrix.to/#/{quote(room_id, safe='!:')}/{quote(event_id, safe='$')}"


def where(ctx: Context, resource: Resource) -> Text:
    """The link as it is, or for a file a link in words to the message that carries it (its
    address is all room and event ids)."""
    if resource.url:
        return Text.plain(resource.url)
    return ctx.open_link(event_link(resource.room_id, resource.event_id))


def file_words(ctx: Context, filename: str | None) -> Text:
    """A file from the public listing by its name: its `mxc://` address is no link anyone
    can open (the media of another homeserver needs an account there), so it is left out."""
    if not filename:
        return ctx.t("res.show.unnamed")
    return ctx.t("res.file_named", name=filename)


def tag_list(tags: tuple[str, ...] | list[str]) -> str:
    return " ".join(f"#{tag}" for tag in tags)


def link_facts(
    ctx: Context, link: Text, tags: tuple[str, ...] | list[str], lang: str | None
) -> Text:
    """The link, then the tags and the language where there are any."""
    parts = [link]
    if tags:
        parts.append(Text.plain(tag_list(tags)))
    if lang:
        parts.append(ctx.t("res.lang", lang=language_names([lang], ctx.language)))
    return Text.join(parts, " · ")


def summary(ctx: Context, resource: Resource) -> Text:
    return ctx.t(
        "res.item",
        id=resource.id,
        title=resource.title,
        link=link_facts(ctx, where(ctx, resource), resource.tags, resource.language),
        votes=resource.votes,
    )


def public_summary(ctx: Context, item: PublicResource) -> Text:
    origins = ", ".join(
        dict.fromkeys(f"{origin.network} ({origin.homeserver})" for origin in item.origins)
    )
    return ctx.t(
        "res.item_europe",
        title=item.title,
        link=link_facts(
            ctx,
            Text.plain(item.url) if item.url else file_words(ctx, item.filename),
            item.tags,
            item.language,
        ),
        origins=origins,
    )


def announcement(ctx: Context, resource: Resource, new: bool, status: str = "posted") -> Text:
    """The bot's answer to a share: its 👍 reactions rate the resource. A new public one is
    said to be shared with the other networks only once it was posted (`status`, from
    `Exchange.public_status`); else the answer says when it will be."""
    key = ("res.added_public" if resource.public else "res.added") if new else "res.duplicate"
    later = {}
    if key == "res.added_public" and status != "posted":
        key, later = "res.added_public_later", {"when": public_when(ctx, status)}
    return ctx.t(
        key,
        id=resource.id,
        title=resource.title,
        link=link_facts(ctx, where(ctx, resource), resource.tags if new else (), None),
        count=len(resource.sharers),
        **later,
    )


def public_when(ctx: Context, status: str) -> str:
    """When a public resource not posted yet goes to the other networks, in words."""
    return ctx.t(f"res.public_when.{status}").body


def details(ctx: Context, resource: Resource) -> Text:
    lines = [
        ctx.t("res.show.title", id=resource.id, title=resource.title),
        ctx.t("res.show.link", link=where(ctx, resource)),
    ]
    if resource.mxc:
        lines.append(
            ctx.t(
                "res.show.file",
                name=resource.filename or ctx.t("res.show.unnamed"),
                type=resource.mimetype or ctx.t("res.show.unknown_type"),
                encrypted=ctx.t("res.show.encrypted" if resource.encrypted else "res.show.plain"),
            )
        )
    if resource.description:
        lines.append(Text.plain(shorten(resource.description, 2000)))
    facts = []
    if resource.tags:
        facts.append(ctx.t("res.show.tags", tags=tag_list(resource.tags)))
    if resource.language:
        facts.append(ctx.t("res.lang", lang=language_names([resource.language], ctx.language)))
    public = ctx.t("res.show.public" if resource.public else "res.show.local")
    facts.append(ctx.t("res.show.facts", votes=resource.votes, public=public))
    lines.append(Text.join(facts, " · "))
    sharers = ctx.names.many(resource.sharers)
    lines.append(ctx.t("res.show.sharers", sharers=sharers, date=ctx.day(resource.created_at)))
    return Text.join(lines)


def results(ctx: Context, page: Page, lines: list[Text], more_key: str) -> Text:
    """A page of results with its header, and how to get the next page."""
    header = ctx.t("res.results", total=page.total, page=page.page, pages=page.pages)
    footer = [ctx.t(more_key, next=page.page + 1)] if page.page < page.pages else []
    return Text.join([header, Text.bullets(lines), *footer])
