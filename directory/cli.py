"""`main.py directory import FILE` and `main.py directory export FILE`.

main.py wires these in with `add_directory_commands(subparsers)` and `run(args)`.
Imported organisations are saved as local changes; a running directory bot notices the
change and publishes them at once (`directory.publishing`), else the bot publishes them when
it starts. The import says which, and waits a little to tell what was published.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.config import load_config
from core.storage import open_store
from directory.io import MAX_CLI_BYTES, export_records, import_path, save_import
from directory.publishing import publisher_running, unpublished
from directory.store import Directory

DEFAULT_CONFIG = Path("config/mentornet.yaml")
PUBLISH_WAIT = 10.0  # seconds the import waits to see the running bot publish


def add_directory_commands(commands: argparse._SubParsersAction) -> None:
    """Add `directory import|export` to main.py's sub-commands; dispatch with `run`."""
    directory = commands.add_parser("directory", help="import or export our organisations")
    actions = directory.add_subparsers(dest="action", required=True)
    importing = actions.add_parser(
        "import",
        help="import HSDS JSON, an HSDS data package (zip or folder) or CSV",
    )
    importing.add_argument("file", type=Path)
    importing.add_argument("--dry-run", action="store_true", help="check only, store nothing")
    exporting = actions.add_parser("export", help="export as HSDS JSON or CSV")
    exporting.add_argument("file", type=Path)
    exporting.add_argument("--format", choices=["json", "csv"], help="default: from the name")
    exporting.add_argument("--no-contacts", action="store_true", help="leave contacts out")
    for parser in (importing, exporting):
        parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)


def run(args: argparse.Namespace) -> int:
    """Run `directory import` or `directory export`; returns the exit status."""
    store = open_store(load_config(args.config).storage.database)
    try:
        directory = Directory(store)
        return _import(directory, args) if args.action == "import" else _export(directory, args)
    finally:
        store.close()


def _import(directory: Directory, args: argparse.Namespace) -> int:
    if args.file.is_file() and args.file.stat().st_size > MAX_CLI_BYTES:
        print(f"{args.file}: larger than 1 GB; nothing imported", file=sys.stderr)
        return 1
    report = import_path(args.file)
    for warning in report.warnings:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    if not report.ok:
        for problem in report.errors:
            print(f"{args.file}: {problem}", file=sys.stderr)
        print(f"{len(report.errors)} problems; nothing imported", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"{args.file}: {len(report.organizations)} organisations, no problems")
        return 0
    counts = save_import(directory, report)
    changed = counts.added + counts.updated
    later = f"; {_publication(directory)}" if changed else ""
    print(
        f"{args.file}: {counts.added} added, {counts.updated} updated,"
        f" {counts.unchanged} unchanged{later}"
    )
    return 0


def _publication(directory: Directory) -> str:
    """What became of the changes just saved: published by the running bot (watched for a
    few seconds), still being published, or waiting for the bot to start."""
    if not publisher_running(directory.store.path):
        return "no bot is running: they will be published when it starts"
    deadline = time.monotonic() + PUBLISH_WAIT
    while (left := unpublished(directory)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not left:
        return "the running bot has published them"
    return f"the running bot is publishing them ({left} still to go)"


def _export(directory: Directory, args: argparse.Namespace) -> int:
    fmt = args.format or ("csv" if args.file.suffix.lower() == ".csv" else "json")
    orgs = directory.local_all()
    args.file.write_bytes(export_records(orgs, fmt, contacts=not args.no_contacts))
    print(f"{args.file}: {len(orgs)} organisations ({fmt})")
    return 0
