"""A room's whole state is parsed in a worker thread one event at a time (so the event loop
runs on between them): it must read exactly what json.loads reads, and refuse what it refuses."""

from __future__ import annotations

import json

import pytest

from core.account import _loads_in_pieces

READ = ['[]', ' [ ]\n', '[{"type": "m.room.name", "content": {"name": "A, B]"}}]',
        '[1, {"a": [1, 2]} , "x" ]', '{"errcode": "M_FORBIDDEN", "error": "no"}']  # fmt: skip
REFUSED = ["[1,]", "[1 2]", "[1] x", "", "[", '["a"']


@pytest.mark.parametrize("text", READ)
def test_what_json_reads_is_read_the_same(text: str) -> None:
    assert _loads_in_pieces(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", REFUSED)
def test_what_json_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        _loads_in_pieces(text.encode())
