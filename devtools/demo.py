"""`main.py demo`: a local Synapse, a bot account, three demo people and a demo room, a mail
catcher that keeps the invitation e-mails as `.eml` files, then the bots, until Ctrl-C. A
second run reuses the same homeserver data, passwords and room."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
from pathlib import Path
from typing import Any

import yaml
from nio import AsyncClient, RoomCreateResponse

from bots import BOTS
from core.app import App
from core.config import parse_config
from devtools.homeserver import LocalSynapse, free_port
from devtools.mail import MailCatcher
from directory.io import import_records, save_import
from directory.store import Directory

log = logging.getLogger(__name__)

SEED = Path(__file__).resolve().parent.parent / "directory" / "seed.json"
PEOPLE = {
    "alice": "Meta-Mentor, admin of the demo room",
    "bob": "a new mentor in her network",
    "carol": "an experienced mentor (a buddy for bob)",
}
# The role alice gives each of the others in the network she creates (`!network invite`).
ROLES = {"bob": "mentor-novice", "carol": "mentor-experienced"}


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def _demo_room(hs: LocalSynapse, alice: str, password: str, invite: list[str]) -> str:
    """Alice creates the encrypted demo room and invites the other demo people and the bot."""
    client = AsyncClient(hs.url, alice)
    try:
        await client.login(password, device_name="mentornet demo set-up")
        response = await client.room_create(
            name="mentornet demo",
            topic="Say !help to meet the mentornet bots.",
            invite=invite,
            initial_state=[
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        )
        if not isinstance(response, RoomCreateResponse):
            raise RuntimeError(f"could not create the demo room: {response}")
        await client.logout()
        return response.room_id
    finally:
        await client.close()


def _load_state(path: Path) -> dict[str, Any]:
    """The demo's remembered port, passwords and room, with passwords made on the first run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = json.loads(path.read_text()) if path.exists() else {}
    passwords = state.setdefault("passwords", {})
    for name in ("mentornet", *PEOPLE):
        passwords.setdefault(name, secrets.token_urlsafe(12))
    return state


async def run_demo(data: Path, port: int, web_port: int, stop: asyncio.Event) -> None:
    state_file = data / "demo.json"
    state = _load_state(state_file)
    passwords = state["passwords"]
    hs_port = state.get("port") or (port if _port_free(port) else None)
    # A demo homeserver for one newcomer: no rate limits to trip over while trying commands.
    hs = LocalSynapse(data / "synapse", port=hs_port, rate_limits="relaxed", log_level="WARNING")
    mail = MailCatcher(data / "mail", free_port())
    try:
        mail.start()
        await hs.start()
        state["port"] = int(hs.url.rsplit(":", 1)[1])
        asked_web_port, web_port = web_port, web_port if _port_free(web_port) else free_port()
        users, config_data = await set_up(hs, data, state, web_port, mail.port)
        state_file.write_text(json.dumps(state, indent=2))
        app = App(parse_config(config_data), BOTS)
        load_seed(app)
        running = asyncio.create_task(app.run(stop))
        await _until_joined(app, state["room_id"], running)
        _print_banner(hs, users, passwords, state["room_id"], data, web_port, asked_web_port)
        await running
    finally:
        await hs.stop()
        mail.stop()


async def set_up(
    hs: LocalSynapse, data: Path, state: dict[str, Any], web_port: int, mail_port: int
) -> tuple[dict[str, str], dict[str, Any]]:
    """On a running homeserver: the bot and the demo people (never throttled), the demo room
    (once; kept in `state`) and the bots' configuration (also written to the data folder).
    Returns the Matrix IDs by name and the configuration; the seed comes with `load_seed`."""
    passwords = state["passwords"]
    users = {name: await hs.register(name, pw, admin=False) for name, pw in passwords.items()}
    for user in users.values():
        await hs.exempt_from_rate_limits(user)
    await hs.make_admin(users["mentornet"])  # registration tokens for invitations by e-mail
    if "room_id" not in state:
        others = [users[name] for name in PEOPLE if name != "alice"]
        state["room_id"] = await _demo_room(
            hs, users["alice"], passwords["alice"], [*others, users["mentornet"]]
        )
    config_data = {
        "matrix": {
            "homeserver": hs.url,
            "user_id": users["mentornet"],
            "password": passwords["mentornet"],
            "invites": {"allow_servers": [hs.server_name]},
        },
        "storage": {"database": str(data / "mentornet.db")},
        "bots": {"admins": [users["alice"]]},
        "web": {"listen": f"127.0.0.1:{web_port}"},
        "directory": {"network": "mentornet demo network"},
        "invitations": {
            "smtp": {
                "host": "127.0.0.1",
                "port": mail_port,
                "security": "none",
                "sender": "office@mentornet-demo.example",
            },
            "homeserver": hs.url,
            "registration_tokens": True,
        },
    }
    (data / "mentornet.yaml").write_text(yaml.safe_dump(config_data, sort_keys=False))
    return users, config_data


async def _until_joined(app: App, room_id: str, running: asyncio.Task[None]) -> None:
    """Wait until the bot has synced and is in the demo room (or has stopped)."""
    while not running.done() and room_id not in app.account.client.rooms:  # noqa: ASYNC110 (nio offers no event)
        await asyncio.sleep(0.1)
    if running.done():
        running.result()  # raise what stopped it


def load_seed(app: App) -> None:
    """The organisations the source texts name, as this demo network's own entries (once)."""
    report = import_records(SEED.read_bytes(), SEED.name)
    counts = save_import(Directory(app.store), report)
    log.info("directory seed loaded", extra={"added": counts.added, "unchanged": counts.unchanged})


def _print_banner(
    hs: LocalSynapse,
    users: dict[str, str],
    passwords: dict[str, str],
    room: str,
    data: Path,
    web_port: int,
    asked_web_port: int,
) -> None:
    moved = f"  Port {asked_web_port} is taken, so the web pages use port {web_port}."
    lines = [
        "",
        "mentornet demo is running.",
        *([moved] if web_port != asked_web_port else []),
        f"  Homeserver: {hs.url}   (server name {hs.server_name})",
        "  Open any Matrix client (Element, FluffyChat…), choose this homeserver and log in as:",
        *(
            f"    {users[name]:<28} password {passwords[name]:<18} {role}"
            for name, role in PEOPLE.items()
        ),
        f"  The bot is {users['mentornet']}; say !help in the room 'mentornet demo' ({room}).",
        "  After !network create, invite the others in its coordination room:",
        *(f"    !network invite {users[name]} {role}" for name, role in ROLES.items()),
        f"  Directory: http://127.0.0.1:{web_port}/directory   (or say !dir search mentoring)",
        f"  Logins are saved in {data / 'demo.json'}; the bots' log is {data / 'mentornet.log'}",
        f"  (config used: {data / 'mentornet.yaml'}).",
        f"  E-mails the bots send (invitations by e-mail) land in {data / 'mail'}/ as .eml files.",
        "  Ctrl-C stops everything; running the demo again reuses all of this.",
        "",
    ]
    print("\n".join(lines), flush=True)
