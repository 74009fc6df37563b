"""The wheel's build step: the translations (compiled) and the shipped configuration go into
`core/shipped/`, where core/paths.py finds them once installed."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CONFIG_FILES = ("selfcheck.yaml", "example.yaml")


class ShippedFiles(BuildHookInterface):
    """Copies `locale/` (LINGUAS, every `.po` and its compiled `.mo`) and `config/`'s shipped
    files into a folder the wheel carries as `core/shipped/`."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        self._folder = Path(tempfile.mkdtemp(prefix="mentornet-shipped-"))
        locale = self._folder / "locale"
        locale.mkdir()
        shutil.copy(root / "locale" / "LINGUAS", locale / "LINGUAS")
        for po in sorted(root.glob("locale/*/LC_MESSAGES/messages.po")):
            target = locale / po.relative_to(root / "locale")
            target.parent.mkdir(parents=True)
            shutil.copy(po, target)
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            with target.with_suffix(".mo").open("wb") as mo:
                write_mo(mo, catalog)
        (self._folder / "config").mkdir()
        for name in CONFIG_FILES:
            shutil.copy(root / "config" / name, self._folder / "config" / name)
        build_data["force_include"][str(self._folder)] = "core/shipped"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)
