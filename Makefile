.PHONY: help test check bench demo
help:  ## list the targets
	@grep -E '^[a-z]+:.*##' Makefile | sed 's/:.*##/\t/'
test:  ## the whole test suite (what CI runs)
	scripts/dev test
check:  ## lint and format check
	.venv/bin/ruff check core tui tests && .venv/bin/ruff format --check core tui tests
bench:  ## benchmarks (tests/bench), writes .bench/report.{md,json}
	.venv/bin/python -m tests.bench
demo:  ## the wizard against the built-in sandbox with a sample PST
	scripts/dev demo
