# The two commands a newcomer runs are `make serve` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-python generate check-generated lint clean
.PHONY: lint-proto breaking release-contract docs check-docs test-node bench bench-full

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/agentsessions serve

test: test-python test-node

test-python: $(STAMP)
	$(BIN)/python -m pytest -q

generate: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

check-generated: generate
	@git diff --exit-code --stat -- generated/ || (echo "generated/ is out of date: run make generate and commit it" && exit 1)
	@test -z "$$(git status --porcelain -- generated/)" || (git status --porcelain -- generated/ && echo "generated/ has files that are not committed" && exit 1)

lint: $(STAMP)
	$(BIN)/ruff check service clients tests scripts benchmarks
	$(BIN)/ruff format --check service clients tests scripts benchmarks
	$(BIN)/mypy service/agentsessions clients/agentsessions

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The contract for every language: buf (pinned in tools/buf, installed from npm) and the API reference.
BUF_DIR := tools/buf
BUF := $(BUF_DIR)/node_modules/.bin/buf
RELEASED_CONTRACT := protos/released/agentsessions-v1.binpb
# Where buf.yaml, protos/ and third_party/ live; tests point it at a modified copy.
CONTRACT_ROOT ?= .

$(BUF): $(BUF_DIR)/package.json $(BUF_DIR)/package-lock.json
	npm ci --prefix $(BUF_DIR) --no-audit --no-fund --loglevel=error
	touch $(BUF)

lint-proto: $(BUF)
	cd $(CONTRACT_ROOT) && $(abspath $(BUF)) lint

breaking: $(BUF)
	cd $(CONTRACT_ROOT) && $(abspath $(BUF)) breaking protos --against $(abspath $(RELEASED_CONTRACT))

# Run when a release is cut: the breaking check compares against this image from then on.
release-contract: $(BUF)
	$(BUF) build protos --exclude-source-info -o $(RELEASED_CONTRACT)

docs: $(STAMP)
	$(BIN)/python scripts/gen_api_docs.py

check-docs: $(STAMP)
	$(BIN)/python scripts/gen_api_docs.py --check

# The Node client's tests start a real server with .venv/bin/agentsessions.
NODE_CLIENT := clients/node
NODE_STAMP := $(NODE_CLIENT)/node_modules/.installed

$(NODE_STAMP): $(NODE_CLIENT)/package.json $(NODE_CLIENT)/package-lock.json
	npm ci --prefix $(NODE_CLIENT) --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

test-node: $(STAMP) $(NODE_STAMP)
	npm --prefix $(NODE_CLIENT) run --silent typecheck
	npm --prefix $(NODE_CLIENT) test --silent

# Benchmarks: the real server in its own process against baselines from the same run (docs/benchmarks.md).
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-full: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run --full --json benchmarks/results/latest.json
	$(BIN)/python -m benchmarks.plot benchmarks/results/latest.json benchmarks/results/latency_vs_store_size.png
