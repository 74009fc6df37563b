"""Turning what someone shared into a `Shared`: a link from `!resource share`, or an uploaded
file whose caption names it. Raises `Refused` with the reason to tell them."""

from __future__ import annotations

import json
from typing import Any

from bots.resources.links import (
    Refused,
    clean_description,
    clean_language,
    clean_tags,
    clean_title,
    is_mxc,
    normalise_url,
    parse_caption,
)
from bots.resources.store import Shared

FILE_TYPES = ("m.file", "m.image", "m.video", "m.audio")


def shared_link(
    *,
    sharer: str,
    room_id: str,
    event_id: str,
    link: str,
    title: str,
    tags: list[str],
    language: str | None,
    description: str | None,
    public: bool,
    encrypted_room: bool,
) -> Shared:
    """A link shared with `!resource share`, checked."""
    url, key = normalise_url(link)
    return Shared(
        sharer=sharer,
        room_id=room_id,
        event_id=event_id,
        title=clean_title(title),
        dedupe_key=key,
        description=clean_description(description),
        url=url,
        language=clean_language(language),
        tags=tuple(clean_tags(tags)),
        public=public,
        private_room=room_id if encrypted_room else None,
    )


def is_captioned_file(content: dict[str, Any], prefix: str) -> bool:
    """An uploaded document or image with a caption (a body other than its file name) that
    is not a command."""
    body, filename = content.get("body"), content.get("filename")
    return (
        content.get("msgtype") in FILE_TYPES
        and isinstance(body, str)
        and isinstance(filename, str)
        and bool(body.strip())
        and body != filename
        and not body.startswith(prefix)
        and "m.new_content" not in content
    )


def shared_file(
    *, sharer: str, room_id: str, event_id: str, content: dict[str, Any], encrypted_room: bool
) -> tuple[Shared, bool]:
    """An uploaded file catalogued from its caption (`Title #tag lang:de public`), and
    whether `public` was asked for but refused.

    An encrypted file keeps its key info here only: it can never be public, since other
    networks could read it only if the key travelled with it (re-uploading it in clear is
    for the person to decide, in a room that is not encrypted).
    """
    caption = parse_caption(content["body"])
    encrypted = isinstance(content.get("file"), dict)
    mxc = (content.get("file") or {}).get("url") if encrypted else content.get("url")
    if not isinstance(mxc, str) or not is_mxc(mxc):
        raise Refused("res.refused.file")
    info = content.get("info")
    if not isinstance(info, dict):
        info = {}
    size = info.get("size")
    mimetype = info.get("mimetype")
    shared = Shared(
        sharer=sharer,
        room_id=room_id,
        event_id=event_id,
        title=clean_title(caption.title or content["filename"]),
        dedupe_key=mxc,
        mxc=mxc,
        file=json.loads(json.dumps(content["file"])) if encrypted else None,
        mimetype=mimetype[:100] if isinstance(mimetype, str) else None,
        filename=clean_title(content["filename"]),
        size=size if isinstance(size, int) else None,
        language=clean_language(caption.language),
        tags=tuple(clean_tags(caption.tags)),
        public=caption.public and not encrypted,
        private_room=room_id if encrypted_room or encrypted else None,
    )
    return shared, caption.public and encrypted
