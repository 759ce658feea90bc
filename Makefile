# O2C — one-command entry points. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: install messages test lint check demo bench bench-setup fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The interface's translations: locale/<lang>/LC_MESSAGES/django.po (committed)
# compiled to django.mo (build output). Needs GNU gettext's msgfmt (Debian: gettext).
messages: install
	$(BIN)/python manage.py compilemessages --ignore=.venv --ignore=var --verbosity 0

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

check: install
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

test: lint check messages
	$(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

demo: install messages
	./scripts/demo.sh

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# Schema fuzzing of the API with schemathesis on a throwaway database (README).
fuzz: install
	./scripts/fuzz_api.sh $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
