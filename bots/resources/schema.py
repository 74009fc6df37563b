"""The resource library's tables in the instance's SQLite file.

- `resources`: what was shared here, a link (`url`) or a file (`mxc`; for a file from an
  encrypted room its key info in `file`), with `dedupe_key` (normalised link or mxc URI):
  the same link shared twice is one resource. `private_room` is the encrypted room it was
  shared in: it is shown only there and never made public. `dirty`/`revision`: a public
  resource still to post to the exchange room; `exchange_event_id`/`exchange_room`: where
  it was posted.
- `resource_tags`; `resource_sharers` (who shared it, where, when: personal data);
  `resource_votes` (one 👍 per person, with the reaction's event id so that redacting the
  reaction takes the vote back: personal data); `resource_announcements` (the bot's messages
  whose 👍 count); `resource_file_rooms` (rooms where uploads are catalogued).
- `resource_public`: the public catalogue, ours (`local_id`) and other networks' (mirrored
  from the exchange room, by `event_id`); `resource_public_tags`; `resource_withdrawals`:
  our exchange events still to redact.
- `resource_fts`, `resource_public_fts`: FTS5 (title, tags, body[, network]), accents
  ignored, prefixes of 4 and 6 letters indexed as `directory.store.fts_terms` expects.
"""

from __future__ import annotations

from typing import Any

from core.storage import Migrations
from core.text import PREFIX_LONG, PREFIX_SHORT

resource_migrations = Migrations("resources")

_FTS_OPTIONS = (
    f"tokenize = 'unicode61 remove_diacritics 2', prefix = '{PREFIX_SHORT} {PREFIX_LONG}'"
)


@resource_migrations.step
def _library(db: Any) -> None:
    db.execute(
        "CREATE TABLE resources (id INTEGER PRIMARY KEY AUTOINCREMENT, dedupe_key TEXT UNIQUE,"
        " url TEXT, mxc TEXT, file TEXT, mimetype TEXT, filename TEXT, size INTEGER,"
        " title TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', language TEXT,"
        " public INTEGER NOT NULL DEFAULT 0, room_id TEXT NOT NULL, event_id TEXT NOT NULL,"
        " private_room TEXT, created_at REAL NOT NULL, revision INTEGER NOT NULL DEFAULT 1,"
        " dirty INTEGER NOT NULL DEFAULT 0, exchange_event_id TEXT, exchange_room TEXT)"
    )
    db.execute("CREATE INDEX resources_event ON resources (event_id)")
    db.execute("CREATE INDEX resources_dirty ON resources (dirty) WHERE dirty = 1")
    db.execute(
        "CREATE TABLE resource_tags (resource_id INTEGER NOT NULL REFERENCES resources(id)"
        " ON DELETE CASCADE, tag TEXT NOT NULL, PRIMARY KEY (resource_id, tag)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX resource_tags_tag ON resource_tags (tag)")
    db.execute(
        "CREATE TABLE resource_sharers (resource_id INTEGER NOT NULL REFERENCES resources(id)"
        " ON DELETE CASCADE, user_id TEXT NOT NULL, room_id TEXT NOT NULL,"
        " event_id TEXT NOT NULL, shared_at REAL NOT NULL, PRIMARY KEY (resource_id, user_id))"
    )
    db.execute("CREATE INDEX resource_sharers_user ON resource_sharers (user_id)")
    db.execute(
        "CREATE TABLE resource_votes (resource_id INTEGER NOT NULL REFERENCES resources(id)"
        " ON DELETE CASCADE, user_id TEXT NOT NULL, event_id TEXT NOT NULL UNIQUE,"
        " voted_at REAL NOT NULL, PRIMARY KEY (resource_id, user_id))"
    )
    db.execute("CREATE INDEX resource_votes_user ON resource_votes (user_id)")
    db.execute(
        "CREATE TABLE resource_announcements (event_id TEXT PRIMARY KEY, resource_id INTEGER"
        " NOT NULL REFERENCES resources(id) ON DELETE CASCADE)"
    )
    db.execute(
        "CREATE TABLE resource_file_rooms (room_id TEXT PRIMARY KEY, enabled_by TEXT,"
        " enabled_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE VIRTUAL TABLE resource_fts USING fts5(title, tags, body, " + _FTS_OPTIONS + ")"
    )


@resource_migrations.step
def _catalogue(db: Any) -> None:
    db.execute(
        "CREATE TABLE resource_public (id INTEGER PRIMARY KEY, local_id INTEGER UNIQUE,"
        " event_id TEXT UNIQUE, room_id TEXT, sender TEXT NOT NULL, homeserver TEXT NOT NULL,"
        " network TEXT NOT NULL, url TEXT, mxc TEXT, dedupe_key TEXT NOT NULL,"
        " title TEXT NOT NULL, description TEXT NOT NULL, tags TEXT NOT NULL, language TEXT,"
        " mimetype TEXT, filename TEXT, origin_ts INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX resource_public_key ON resource_public (dedupe_key)")
    db.execute("CREATE INDEX resource_public_room ON resource_public (room_id)")
    db.execute("CREATE INDEX resource_public_ts ON resource_public (origin_ts)")
    db.execute(
        "CREATE TABLE resource_public_tags (tag TEXT NOT NULL, item INTEGER NOT NULL,"
        " PRIMARY KEY (tag, item)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX resource_public_tags_item ON resource_public_tags (item)")
    db.execute(
        "CREATE TABLE resource_withdrawals (event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL)"
    )
    db.execute(
        "CREATE VIRTUAL TABLE resource_public_fts USING fts5(title, tags, body, network, "
        + _FTS_OPTIONS
        + ")"
    )
