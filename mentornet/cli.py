"""The command line: `mentornet` once installed, `python main.py` in a checkout.

mentornet run --config config/example.yaml   run the bots against any homeserver
mentornet demo                               a local homeserver, demo users and the bots
mentornet check-config FILE                  validate a configuration file
mentornet backup FILE [--config FILE]        consistent copy of the database, live
mentornet directory import|export FILE       our organisations as HSDS JSON or CSV
mentornet checkins export FILE               every check-in answer as CSV
mentornet federation create-space|join|approve|leave   the European directory

Paths given on the command line (and the default `config/mentornet.yaml`) are taken from the
current folder; the texts, translations and templates come with the packages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bots.checkin.cli import add_checkin_commands
from core.config import Config, ConfigError, load_config
from core.logs import setup_logging
from directory.cli import add_directory_commands

DEFAULT_CONFIG = Path("config/mentornet.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mentornet Matrix bots")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bots")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    demo = commands.add_parser("demo", help="start a local homeserver with demo users and the bots")
    demo.add_argument("--data", type=Path, default=Path("data/demo"))
    demo.add_argument("--port", type=int, default=8008, help="homeserver port (if free)")
    demo.add_argument("--web-port", type=int, default=8080, help="web port (if free)")
    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", type=Path)
    backup = commands.add_parser(
        "backup", help="copy the database consistently, even while running"
    )
    backup.add_argument("file", type=Path)
    backup.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    add_directory_commands(commands)
    add_checkin_commands(commands)
    federation = commands.add_parser("federation", help="join or leave the European directory")
    federation.add_argument("action", choices=("create-space", "join", "approve", "leave"))
    federation.add_argument(
        "target", nargs="?", help="the space (join) or directory room (approve)"
    )
    federation.add_argument("--via", action="append", default=[], help="a server to join through")
    federation.add_argument("--name", default="mentornet European directory")
    federation.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 2


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: OK ({config.matrix.user_id} on {config.matrix.homeserver})")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from core.storage import Store

    config = load_config(args.config)
    if not config.storage.database.exists():
        print(f"no database at {config.storage.database}", file=sys.stderr)
        return 1
    store = Store(config.storage.database)
    store.backup(args.file)
    store.close()
    print(f"backed up {config.storage.database} to {args.file}")
    return 0


def _directory(args: argparse.Namespace) -> int:
    from directory.cli import run

    return run(args)


def _checkins(args: argparse.Namespace) -> int:
    from bots.checkin.cli import run

    return run(args)


def _federation(args: argparse.Namespace) -> int:
    from core.rooms import MatrixError
    from federation.rooms import FederationError

    config = load_config(args.config)
    if args.action in ("join", "approve") and not args.target:
        print(f"error: federation {args.action} needs a room or space id", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(_federation_step(config, args))
    except (FederationError, MatrixError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(outcome)
    return 0


async def _federation_step(config: Config, args: argparse.Namespace) -> str:
    """One federation step with the bot's account (no encryption: the bot owns the crypto store)."""
    from bots import BOTS
    from core.app import App
    from federation import membership

    matrix = config.matrix.model_copy(update={"encryption": False})
    app = App(config.model_copy(update={"matrix": matrix}), BOTS)
    account = app.account
    await account.login()
    try:
        if args.action == "create-space":
            outcome = await membership.start_space(account, config, args.name)
        elif args.action == "join":
            outcome = await membership.join_space(account, config, args.target, args.via)
        elif args.action == "approve":
            outcome = await membership.approve(account, args.target, args.via)
        else:
            outcome = await membership.leave_space(account)
    finally:
        await account.client.close()
        app.store.close()
    return outcome.message


def _run(args: argparse.Namespace) -> int:
    from bots import BOTS
    from core.app import App

    config = load_config(args.config)
    setup_logging(config.logging.level, config.logging.format)
    return run_until_signalled(lambda stop: App(config, BOTS).run(stop))


def _demo(args: argparse.Namespace) -> int:
    from devtools.demo import run_demo

    setup_logging("INFO", "text", log_file=args.data / "mentornet.log")
    return run_until_signalled(lambda stop: run_demo(args.data, args.port, args.web_port, stop))


def run_until_signalled(job: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run `job` until it ends or SIGTERM/SIGINT asks it to stop cleanly."""
    from core.account import AccountError
    from core.storage import StorageError

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await job(stop)

    try:
        asyncio.run(wrapper())
    except (AccountError, StorageError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "demo": _demo,
    "check-config": _check_config,
    "backup": _backup,
    "directory": _directory,
    "checkins": _checkins,
    "federation": _federation,
}


def entry() -> None:
    """The installed `mentornet` command (and `python main.py`): exit with main's status."""
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
