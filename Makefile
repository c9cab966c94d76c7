# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test test-quick lint format install install-dev migrate bench clean messages

# What running needs (Piper included: it is a voice users can pick), then the
# test and lint tools on top: `make run` on a fresh machine skips playwright,
# moto, schemathesis and friends. One stamp file per set.
$(VENV)/.installed-run: requirements.txt requirements-piper.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-piper.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-run requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed-run
	mkdir -p var

install-dev: install $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

# Web and worker together; one Ctrl-C stops both (run_local gives each one SIGTERM).
# Local mode: DEBUG is off unless set (settings.py), so this target turns it on
# (for migrate too).
run: export DEBUG ?= 1
run: migrate
	$(PY) manage.py create_demo_accounts
	@echo "ttsjobs on http://127.0.0.1:$(PORT)/  (demo/demo, admin/admin)"
	@$(PY) manage.py run_local 127.0.0.1:$(PORT)

test: install-dev
	$(PY) -m pytest

# Everything but the tests that drive Chromium or start worker processes
# (make run included): the loop to run while working. CI runs `make test`.
test-quick: install-dev
	$(PY) -m pytest -m "not browser and not cluster"

# ruff: the rule set and format live in pyproject.toml. CI runs this first.
lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# The translation catalogue: new marked strings into locale/zh_Hant/.../django.po,
# then the .mo compiled (committed: running and testing need no gettext).
# Needs GNU gettext (apt-get install gettext); translate the new entries in between.
messages: export DEBUG ?= 1
messages: install
	$(PY) manage.py makemessages -l zh_Hant --no-location -i tests -i bench -i var -i static -i docs -i test-artifacts
	$(PY) manage.py compilemessages -l zh_Hant

bench: install
	$(PY) bench/api.py

clean:
	rm -rf var/test-*.sqlite3* .pytest_cache test-artifacts
