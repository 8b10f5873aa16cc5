# The README's commands. Each installs what it needs first (scripts/bootstrap.sh).
.PHONY: demo test lint bench bootstrap clean

bootstrap:
	@./scripts/bootstrap.sh

## The main job: a ~50-tenant plan end to end against a local redis-server and fleet, then a rollback.
demo:
	@SWITCHOVER_NO_BROWSER=1 ./scripts/bootstrap.sh
	.venv/bin/switchover demo

## The whole test suite, with the linters and the type checker.
test: bootstrap lint
	.venv/bin/python -m pytest

lint: bootstrap
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy

## Benchmarks 1-3 at their small sizes (see bench/README.md).
bench: bootstrap
	.venv/bin/python -m bench.all --small

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache switchover.db*
