"""Where the runtime finds the files it reads besides its code, from this file and never from
the current folder.

In a checkout the translations (`locale/`) and the shipped configuration (`config/`) sit beside
the packages; an installed wheel carries them inside this package, in `core/shipped/` (put
there by `hatch_build.py`, with the catalogs compiled). Texts, templates and the directory's
seed live in their packages and are found beside their modules.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIPPED = HERE / "shipped" if (HERE / "shipped").is_dir() else HERE.parent
LOCALE_DIR = SHIPPED / "locale"
CONFIG_DIR = SHIPPED / "config"
