# The index of what a person can do with fitmesh. Every target sets itself up first.
UV := uv run --frozen
TOOLS := $(or $(FITMESH_TOOLS),$(HOME)/.cache/fitmesh)/bin

.PHONY: setup run test lint proto bench

setup:  ## install uv, the Python environment, the database servers and the Go tools
	@bash scripts/setup.sh

run: setup  ## run the suite on this machine (Ctrl-C stops it); RUN_ARGS="--offset N" moves every port
	$(UV) python -m devstack run $(RUN_ARGS)

test: setup  ## run every test against real servers
	$(UV) pytest

lint: setup  ## ruff, mypy and buf
	$(UV) ruff check .
	$(UV) ruff format --check .
	$(UV) mypy .
	cd protos && $(TOOLS)/buf lint

proto: setup  ## regenerate Python code and typed stubs from protos/
	$(UV) python scripts/protogen.py

bench:  ## measure the suite under load (~25 min): bench/results/<time>.{json,md,png} and the README table
	@bash scripts/setup.sh bench
	$(UV) python -m bench $(BENCH_ARGS)
