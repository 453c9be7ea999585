# supportbot — the verbs a newcomer looks for.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
KB      ?= sample
ES_PORT ?= 9200
ES_NODES ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.DEFAULT_GOAL := help
.PHONY: help install lock run serve test test-fast lint fmt typecheck bench elasticsearch elasticsearch-stop clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

# Installs exactly what uv.lock pins (the versions CI tested), never the newest of the day.
# --compile-bytecode writes every dependency's .pyc now (~70 s of CPU, once): without them
# each `supportbot` command compiles ~1,000 modules from source again (2 s of CPU a start)
# wherever PYTHONDONTWRITEBYTECODE is set or site-packages is read-only. The stamp
# depends on this file, so a virtualenv made before a change here is synced again.
$(VENV)/.installed: pyproject.toml uv.lock Makefile
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	UV_PROJECT_ENVIRONMENT=$(VENV) uv sync --frozen --extra test --python 3.11 --compile-bytecode
	@touch $@

# Our own packages are installed editable (imported from this folder): their .pyc are
# refreshed at every install (~1 s when up to date), so edits don't leave stale ones.
install: $(VENV)/.installed ## Create the virtualenv and install supportbot with test tools (from uv.lock)
	@$(PY) -m compileall -q -j 0 bot ingestion workers

lock: ## Re-resolve uv.lock to the newest versions pyproject.toml allows (on purpose, then test)
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv lock --upgrade

run: install ## Install, ingest the sample help center, serve on http://127.0.0.1:8000
	$(BIN)/supportbot ingest examples/help-center --kb $(KB) --base-url https://help.lumennotes.example/articles
	@echo "Demo: http://127.0.0.1:8000/  (sample help center with the chat widget)   API docs: http://127.0.0.1:8000/docs"
	@echo "try:  curl -s localhost:8000/v1/search -H 'content-type: application/json' -d '{\"kb\":\"$(KB)\",\"query\":\"how do I reset my password\"}'"
	$(BIN)/supportbot serve

serve: install ## Serve the API without ingesting
	$(BIN)/supportbot serve

test: install ## Start the services the tests need (Elasticsearch, Redis) and run every test
	deploy/with-services $(PY) -X faulthandler -m pytest -q -ra $(PYTEST_ARGS)

test-fast: install ## Run the tests that need no external service
	$(PY) -m pytest -q -m "not elasticsearch and not redis and not celery and not browser" $(PYTEST_ARGS)

lint: install ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot ingestion workers

fmt: install ## Format and fix imports
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Regenerate the benchmark table in benchmarks/README.md (~25 min; starts ES + Redis)
	deploy/with-services $(PY) -m benchmarks.report $(BENCH_ARGS)

elasticsearch: ## Start local Elasticsearch on ES_PORT (9200); ES_NODES=3 for a 3-node cluster
	deploy/elasticsearch/run-local start --port $(ES_PORT) --nodes $(ES_NODES)

elasticsearch-stop: ## Stop the local Elasticsearch node
	deploy/elasticsearch/run-local stop --port $(ES_PORT)

clean: ## Remove the virtualenv, local data and caches
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
