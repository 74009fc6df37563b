"""Figures from bots built elsewhere (check-ins, resources), read from their tables only when
those exist. This is the one place that knows their schema: if it changes, change it here.

Assumed (and checked column by column, so a different schema yields "no figures", never an
error):
- `checkin_requests (network_id, user_id, sent_at, answered_at)`: one row per person asked
  in a check-in round, `answered_at` NULL until they answer (a view of the check-in bot);
- `resources (room_id, created_at)`: one row per resource, shared in one of the network's
  rooms (`network_rooms`).
"""

from __future__ import annotations

from typing import Any

CHECKINS = ("checkin_requests", {"network_id", "sent_at", "answered_at"})
RESOURCES = ("resources", {"room_id", "created_at"})


def _has(db: Any, table: str, columns: set[str]) -> bool:
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", [table]
    ).fetchone()
    if found is None:
        return False
    names = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
    return columns <= names


def checkin_responses(
    db: Any, network_id: int, since: float, until: float
) -> tuple[int, int] | None:
    """(asked, answered) check-ins sent in the period, or None without check-in tables."""
    table, columns = CHECKINS
    if not _has(db, table, columns):
        return None
    row = db.execute(
        f"SELECT COUNT(*), COUNT(answered_at) FROM {table}"
        " WHERE network_id = ? AND sent_at >= ? AND sent_at < ?",
        [network_id, since, until],
    ).fetchone()
    return int(row[0]), int(row[1])


def new_resources(db: Any, network_id: int, since: float, until: float) -> int | None:
    """Resources shared in the period, or None without a resources table."""
    table, columns = RESOURCES
    if not _has(db, table, columns):
        return None
    row = db.execute(
        f"SELECT COUNT(*) FROM {table} WHERE created_at >= ? AND created_at < ? AND room_id IN"
        " (SELECT room_id FROM network_rooms WHERE network_id = ?)",
        [since, until, network_id],
    ).fetchone()
    return int(row[0])
