# The two commands a newcomer runs are `make serve` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-python generate check-generated lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/agentsessions serve

test: test-python

test-python: $(STAMP)
	$(BIN)/python -m pytest -q

generate: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

check-generated: generate
	@git diff --exit-code --stat -- generated/ || (echo "generated/ is out of date: run make generate and commit it" && exit 1)
	@test -z "$$(git status --porcelain -- generated/)" || (git status --porcelain -- generated/ && echo "generated/ has files that are not committed" && exit 1)

lint: $(STAMP)
	$(BIN)/ruff check service clients tests scripts
	$(BIN)/ruff format --check service clients tests scripts
	$(BIN)/mypy service/agentsessions clients/agentsessions

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
