"""The shared resource library (`!resource`, short `!res`), local and federated.

- `links`: checking what is shared (links, titles, tags, captions, posted events).
- `schema`, `store` (`Library`), `ledger` (votes, file rooms, personal data), `outbox`
  (what is still to post or redact), `catalogue` (public resources, ours and other
  networks'), `search` (ranking): the SQLite side.
- `exchange`: the European space's resource-exchange room.
- `bot`, `alias`, `intake`, `replies`: chat; `web`: `/resources` and `/api/v1/resources`.
"""

from bots.resources.bot import ResourceBot

__all__ = ["ResourceBot"]
