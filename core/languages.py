"""The interface languages: English (the source texts) and every language listed in
`locale/LINGUAS`, one code a line, each with its catalog `locale/<code>/LC_MESSAGES/messages.po`.

Adding a language is one line in `locale/LINGUAS` and one new `.po` file.
"""

from __future__ import annotations

from pathlib import Path

from core.paths import LOCALE_DIR

__all__ = ["LANGUAGES", "LOCALE_DIR", "SOURCE_LANGUAGE", "interface_languages"]

SOURCE_LANGUAGE = "en"


def interface_languages(folder: Path = LOCALE_DIR) -> tuple[str, ...]:
    """English first, then the languages of `LINGUAS` in the order written there."""
    listed = (folder / "LINGUAS").read_text(encoding="utf-8").splitlines()
    codes = [line.split("#", 1)[0].strip() for line in listed]
    return (SOURCE_LANGUAGE, *[code for code in codes if code and code != SOURCE_LANGUAGE])


LANGUAGES = interface_languages()
