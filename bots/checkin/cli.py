"""`main.py checkins export FILE`: every check-in answer as CSV, for the instance's admins.

main.py wires it in with `add_checkin_commands(subparsers)` and `run(args)`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bots.checkin import schema as checkin_schema
from bots.checkin.export import export_csv
from bots.checkin.schema import CheckinStore
from bots.network import schema as network_schema
from bots.network.schema import NetworkStore
from core.config import load_config
from core.i18n import Catalog
from core.storage import open_store

DEFAULT_CONFIG = Path("config/mentornet.yaml")


def add_checkin_commands(commands: argparse._SubParsersAction) -> None:
    """Add `checkins export` to main.py's sub-commands; dispatch with `run`."""
    checkins = commands.add_parser("checkins", help="export check-in answers")
    actions = checkins.add_subparsers(dest="action", required=True)
    exporting = actions.add_parser("export", help="all answers as CSV (personal data: keep safe)")
    exporting.add_argument("file", type=Path)
    exporting.add_argument("--network", help="only the network with this name")
    exporting.add_argument("--config", type=Path, default=DEFAULT_CONFIG)


def run(args: argparse.Namespace) -> int:
    """Write the CSV; returns the exit status."""
    store = open_store(load_config(args.config).storage.database)
    try:
        store.migrate(network_schema.migrations)
        store.migrate(checkin_schema.migrations)
        networks = NetworkStore(store)
        network_id = None
        if args.network:
            network = networks.by_name(args.network)
            if network is None:
                print(f"error: no network named {args.network!r}", file=sys.stderr)
                return 1
            network_id = network.id
        data, count = export_csv(CheckinStore(store), networks, Catalog.load(), network_id)
        args.file.write_bytes(data)
        print(f"exported {count} answers to {args.file}")
        return 0
    finally:
        store.close()
