"""Matrix event content is canonical JSON: integers only (no decimal numbers), each within
±(2**53 - 1). A homeserver refuses anything else (`M_BAD_JSON`), so what we send is checked
first and a bad value becomes a clear error on our side instead of a silent loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_INTEGER = 2**53 - 1


def canonical_problem(value: Any, path: str = "content") -> str | None:
    """Where and why `value` cannot be event content; None when it can."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            return f"{path}: {value} is out of the integer range Matrix events allow"
        return None
    if isinstance(value, float):
        return f"{path}: {value!r} is a decimal number, which Matrix events cannot carry"
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = canonical_problem(item, f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = canonical_problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    return f"{path}: a {type(value).__name__} is no JSON value"
