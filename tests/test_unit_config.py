"""The configuration file: loading, one-line errors naming the key, invite rules."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.yaml"
MINIMAL: dict[str, Any] = {
    "matrix": {"homeserver": "https://matrix.example.org", "user_id": "@bot:example.org"}
}


def config(**sections: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data["matrix"]["password"] = "secret"
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def test_example_and_minimal_configs_load() -> None:
    example = load_config(EXAMPLE)
    assert example.matrix.user_id == "@mentornet:localhost"
    assert example.bots.admins == ["@alice:localhost"]
    minimal = parse_config(config())
    assert minimal.matrix.sync_timeout_ms == 30_000
    assert minimal.bots.command_prefix == "!"
    assert parse_config(config(matrix={"password": None, "access_token": "syt_x"}))


@pytest.mark.parametrize(
    ("data", "starts"),
    [
        (config(matrix={"pasword": "x"}), "matrix.pasword: unknown key"),
        (config(storage={"databse": "x.db"}), "storage.databse: unknown key"),
        (config(matrix={"sync_timeout_ms": "soon"}), "matrix.sync_timeout_ms: "),
        (config(matrix={"sync_timeout_ms": 10}), "matrix.sync_timeout_ms: "),
        (config(matrix={"homeserver": "ftp://example.org"}), "matrix.homeserver: needs http://"),
        (config(matrix={"homeserver": "matrix.example.org"}), "matrix.homeserver: needs http://"),
        (config(web={"listen": "8080"}), "web.listen: needs host:port"),
        (config(bots={"admins": ["alice"]}), "bots.admins: 'alice' is not a Matrix user id"),
        (config(logging={"level": "LOUD"}), "logging.level: "),
        (config(invitations={"smtp": {"sender": "a@b.org"}}), "invitations.smtp.host: missing"),
        (
            config(invitations={"smtp": {"host": "mail.b.org", "sender": "office"}}),
            "invitations.smtp.sender: needs an e-mail address, like office@example.org",
        ),
        (
            config(invitations={"smtp": {"host": "m.b.org", "sender": "a@b.org", "port": 0}}),
            "invitations.smtp.port: ",
        ),
        (
            config(invitations={"smtp": {"host": "m.b.org", "sender": "a@b.org", "user": "x"}}),
            "invitations.smtp.user: unknown key",
        ),
        (
            config(invitations={"smtp": {"host": "m.b.org", "sender": "a@b.org", "username": "x"}}),
            "invitations.smtp: give both username and password, or neither",
        ),
        (
            config(invitations={"smtp": {"host": "m", "sender": "a@b.org", "security": "ssl"}}),
            "invitations.smtp.security: ",
        ),
        ({"matrix": {"homeserver": "https://e.org", "password": "x"}}, "matrix.user_id: missing"),
        (MINIMAL, "matrix: give password or access_token"),
        ({}, "matrix: missing value"),
        ([1, 2], "the file must hold a mapping"),
    ],
)
def test_mistakes_give_one_line_naming_the_key(data: object, starts: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert message.startswith(starts)
    assert "\n" not in message


def test_every_mistake_gets_its_own_line() -> None:
    data = config(
        matrix={"homeserver": "matrix.example.org", "pasword": "x", "sync_timeout_ms": 10},
        bots={"admins": ["alice"]},
        logging={"level": "LOUD"},
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    lines = str(caught.value).split("\n")
    assert len(lines) == 5, lines
    assert lines == caught.value.problems
    for key in ("matrix.homeserver", "matrix.pasword", "matrix.sync_timeout_ms", "bots.admins"):
        assert sum(line.startswith(f"{key}: ") for line in lines) == 1, key
    assert any(line.startswith("logging.level: should be 'DEBUG'") for line in lines)


def test_relative_database_is_resolved_against_base_dir(tmp_path: Path) -> None:
    relative = parse_config(config(storage={"database": "db/m.db"}), base_dir=tmp_path)
    assert relative.storage.database == tmp_path / "db" / "m.db"
    assert relative.storage.crypto_store == tmp_path / "db" / "m.crypto"
    absolute = parse_config(config(storage={"database": "/srv/m.db"}), base_dir=tmp_path)
    assert absolute.storage.database == Path("/srv/m.db")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("matrix: [unclosed\n", "not valid YAML at line"),
        ("matrix:\n\thomeserver: x\n", "not valid YAML at line"),
        ("", "the file must hold a mapping"),
        ("just words\n", "the file must hold a mapping"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read \(No such file"):
        load_config(tmp_path / "nope.yaml")


def test_invite_allowed() -> None:
    cfg = parse_config(
        config(
            matrix={"invites": {"allow_users": ["@*:friends.org"], "allow_servers": ["*.ngo"]}},
            bots={"admins": ["@root:elsewhere.net"]},
        )
    )
    assert cfg.invite_allowed("@ana:friends.org")
    assert cfg.invite_allowed("@ben:berlin.ngo")
    assert cfg.invite_allowed("@root:elsewhere.net")
    assert not cfg.invite_allowed("@eve:elsewhere.net")
    assert not cfg.invite_allowed("@eve:notfriends.org")
    assert not cfg.invite_allowed("@eve:ngo.evil.com")
    assert not parse_config(config()).invite_allowed("@ana:example.org")


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "check-config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_check_config_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config(matrix={"pasword": "x"})), encoding="utf-8")
    result = check_config(bad)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "matrix.pasword: unknown key" in result.stderr
    worse = tmp_path / "worse.yaml"
    worse.write_text(
        yaml.safe_dump(config(matrix={"pasword": "x", "homeserver": "example.org"})),
        encoding="utf-8",
    )
    result = check_config(worse)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "config error: matrix.homeserver: needs http:// or https:// and a host, like"
        " https://matrix.example.org (got 'example.org')",
        "config error: matrix.pasword: unknown key (check the spelling; config/example.yaml"
        " lists every key)",
    ]
    assert "Traceback" not in result.stderr
    good = check_config(EXAMPLE)
    assert good.returncode == 0, good.stderr
    assert "OK" in good.stdout
