# The two README commands are `make run` and `make test`; both bootstrap uv when missing.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
PACKAGES := core redis-client file-monitor gateway http-client mqtt queue asgi

# The core's per-message modules and asgi's per-request ones are compiled with mypyc when
# `uv sync` installs the packages (packages/core/hatch_build.py, the build hook of both);
# `make sync` compiles them again when a source changed since, so a stale extension is never
# what runs (it would not be: the package then imports the .py).
COMPILED := packages/core packages/asgi

.PHONY: run test test-pure compile profile check docs docs-serve bench bench-http bench-websocket bench-redis bench-file-monitor bench-gateway bench-http-client bench-mqtt bench-queue bench-asgi sync services

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

sync: $(UV)
	$(UV) sync --all-packages --frozen 2>/dev/null || $(UV) sync --all-packages
	@$(UV) run --no-sync python packages/core/hatch_build.py $(COMPILED)

# compile the compiled packages' modules again, even when current
compile: sync
	$(UV) run --no-sync python packages/core/hatch_build.py --force $(COMPILED)

run: sync
	$(UV) run python examples/chat/app.py start

services:
	@bash tools/ensure-services.sh

test: sync services
	$(UV) run python tools/run_tests.py -q

# the suite on the pure-Python build of the core and asgi (CI runs both)
test-pure: sync services
	WORKERMAN_NO_EXTENSIONS=1 $(UV) run python tools/run_tests.py -q

check: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	@for p in $(PACKAGES); do echo "mypy --strict packages/$$p/src"; \
	  $(UV) run mypy --strict packages/$$p/src || exit 1; done

# the docs site (mkdocs-material, API reference by mkdocstrings) into site/; warnings fail
docs: sync
	NO_MKDOCS_2_WARNING=1 $(UV) run mkdocs build --strict

docs-serve: sync
	NO_MKDOCS_2_WARNING=1 $(UV) run mkdocs serve

# where the per-message time goes: callgrind instructions per message, and the functions
# that take them (benchmarks/hotpath.py; ARGS="--tree ../other-checkout" side by side)
profile: sync
	$(UV) run python -m benchmarks.hotpath --profile $(ARGS)

bench: sync
	$(UV) run python -m benchmarks $(ARGS)

bench-http: sync
	$(UV) run python -m benchmarks.http $(ARGS)

bench-websocket: sync
	$(UV) run python -m benchmarks.websocket $(ARGS)

bench-redis: sync
	$(UV) run python -m benchmarks.redis $(ARGS)

bench-file-monitor: sync
	$(UV) run python -m benchmarks.file_monitor $(ARGS)

bench-gateway: sync
	$(UV) run python -m benchmarks.gateway $(ARGS)

bench-http-client: sync
	$(UV) run python -m benchmarks.http_client $(ARGS)

bench-mqtt: sync
	$(UV) run python -m benchmarks.mqtt $(ARGS)

bench-queue: sync
	$(UV) run python -m benchmarks.queue $(ARGS)

bench-asgi: sync
	$(UV) run python -m benchmarks.asgi $(ARGS)
