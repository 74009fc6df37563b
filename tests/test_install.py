"""`pip install .` gives a working `mentornet` command: the wheel is built, installed into a
fresh virtual environment and run from a folder outside the checkout, so every text, catalog,
template and shipped configuration file must come from the installed package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"

# Run in the installed environment: where every data file was found, and a French text.
PROBE = """
import core, bots, directory
from core.i18n import default_catalog
from core.pages import TEMPLATES
from core.paths import LOCALE_DIR
from bots.sustain.selfcheck import QUESTIONS_FILE, load_questions
from directory.store import Directory
print(core.__file__)
print(LOCALE_DIR)
print(QUESTIONS_FILE)
print(TEMPLATES / "directory.html")
print(default_catalog().text("fr", "help.bot.general").body)
print(len(load_questions().questions))
"""


def _run(*command: str | Path, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _subcommands(help_text: str) -> str:
    found = re.search(r"\{([a-z,-]+)\}", help_text)
    assert found, help_text
    return found.group(1)


@pytest.mark.timeout(900)
def test_the_installed_command_runs_outside_the_checkout(tmp_path: Path) -> None:
    uv = str(UV) if UV.exists() else shutil.which("uv")
    assert uv, "uv is installed by `make setup`"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _run(uv, "build", "--wheel", "--quiet", "-o", dist, ROOT, cwd=ROOT, env=env)
    (wheel,) = dist.glob("mentornet-*.whl")
    _run(uv, "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path, env=env)
    pinned = tmp_path / "requirements.txt"  # the locked versions, mostly in uv's cache already
    _run(
        uv,
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--quiet",
        "-o",
        pinned,
        cwd=ROOT,
        env=env,
    )
    python = venv / "bin" / "python"
    _run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "-r",
        pinned,
        wheel,
        cwd=tmp_path,
        env=env,
    )

    command = venv / "bin" / "mentornet"
    installed_help = _run(command, "--help", cwd=elsewhere, env=env)
    checkout_help = _run(sys.executable, ROOT / "main.py", "--help", cwd=ROOT, env=env)
    assert _subcommands(installed_help) == _subcommands(checkout_help)
    assert installed_help.startswith("usage: mentornet")

    example = ROOT / "config" / "example.yaml"
    assert "OK (@mentornet:localhost" in _run(
        command, "check-config", example, cwd=elsewhere, env=env
    )
    french = yaml.safe_load(example.read_text(encoding="utf-8"))
    french["bots"]["default_language"] = "fr"  # known only from the shipped locale/LINGUAS
    (elsewhere / "fr.yaml").write_text(yaml.safe_dump(french), encoding="utf-8")
    assert "fr.yaml: OK" in _run(command, "check-config", "fr.yaml", cwd=elsewhere, env=env)

    package, locale, questions, template, title, count = _run(
        python, "-c", PROBE, cwd=elsewhere, env=env
    ).splitlines()
    for found in (package, locale, questions, template):
        assert Path(found).is_relative_to(venv), found
        assert Path(found).exists(), found
    assert title == "Les bases"  # help.bot.general in French, from the compiled catalog
    assert int(count) > 10
