# Two commands do everything: `make demo` and `make test`. Each installs what it needs first:
# uv (pinned) in .tools/, then the locked dependencies (uv.lock) in .venv/.
UV_VERSION := 0.13.9
PYTHON ?= python3
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv
PORT ?= 8080

.PHONY: demo test lint bench setup clean messages

demo: setup  ## make demo [PORT=8080]: the web pages' port (another is picked if it is taken)
	.venv/bin/python main.py demo --web-port $(PORT)

test: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache
	.venv/bin/mypy
	.venv/bin/pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench: setup
	.venv/bin/python bench/ping_roundtrip.py

setup: .venv/.synced

# Texts: extract the English (bots/strings/*.yaml) into locale/messages.pot, merge it into every
# catalog (locale/<lang>/LC_MESSAGES/messages.po) and compile them (the bots also compile a
# stale .mo when they start).
messages: setup
	PYTHONPATH=. .venv/bin/pybabel extract -F babel.cfg -o locale/messages.pot .
	.venv/bin/pybabel update -i locale/messages.pot -d locale --ignore-obsolete
	.venv/bin/pybabel compile -d locale --statistics

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

clean:
	rm -rf .venv .tools
