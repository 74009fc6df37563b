"""What searching the library and the public catalogue share: user text as a safe FTS5
match, the result page, and the order "relevance, then rating"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from directory.store import fts_terms

T = TypeVar("T")
MAX_PER_PAGE = 100
SEARCH_LIMIT = 1_000  # matches read per search; a library is far smaller
# bm25 scores within about a tenth of the best count as equally relevant (see `ranked`).
RELEVANCE_STEPS = 10


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; `total` counts at most SEARCH_LIMIT matches."""

    total: int
    items: list[T]
    page: int = 1
    per_page: int = 10

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def check_paging(page: int, per_page: int) -> None:
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"page must be ≥ 1 and per_page between 1 and {MAX_PER_PAGE}")


def match_expression(text: str) -> str | None:
    """Every word of `text` must match (accents ignored, longer words by their beginning);
    None when the text has no word at all. No FTS5 syntax gets through."""
    terms = fts_terms(text)
    return " AND ".join(terms) if terms else None


def ranked(rows: Sequence[tuple[int, float, int, float]]) -> list[int]:
    """Ids of (id, bm25, votes, created) rows by relevance, then rating, then newest.

    bm25 is lower for a better match. Relevance is counted in RELEVANCE_STEPS steps of the
    best score, so that two resources that match about equally well are ordered by their
    👍, not by a length difference of a few words.
    """
    if not rows:
        return []
    best = min(row[1] for row in rows)

    def order(row: tuple[int, float, int, float]) -> tuple[int, int, float, float]:
        _, score, votes, created = row
        step = round(RELEVANCE_STEPS * score / best) if best < 0 else RELEVANCE_STEPS
        return (-step, -votes, score, -created)

    return [row[0] for row in sorted(rows, key=order)]


def tag_filter(column: str, table: str, key: str, tags: Sequence[str]) -> tuple[str, list[str]]:
    """SQL (`AND …`) keeping rows that carry every tag."""
    sql = "".join(f" AND {column} IN (SELECT {key} FROM {table} WHERE tag = ?)" for _ in tags)
    return sql, list(tags)
