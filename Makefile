# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test test-quick lint format install migrate bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-piper.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-piper.txt
	touch $@

install: $(VENV)/.installed
	mkdir -p var

migrate: install
	$(PY) manage.py migrate --noinput

# Web and worker together; one Ctrl-C stops both (run_local gives each one SIGTERM).
run: migrate
	$(PY) manage.py create_demo_accounts
	@echo "ttsjobs on http://127.0.0.1:$(PORT)/  (demo/demo, admin/admin)"
	@$(PY) manage.py run_local 127.0.0.1:$(PORT)

test: install
	$(PY) -m pytest

# Everything but the tests that drive Chromium or start worker processes
# (make run included): the loop to run while working. CI runs `make test`.
test-quick: install
	$(PY) -m pytest -m "not browser and not cluster"

# ruff: the rule set and format live in pyproject.toml. CI runs this first.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install
	$(PY) bench/api.py

clean:
	rm -rf var/test-*.sqlite3* .pytest_cache test-artifacts
