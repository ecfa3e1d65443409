.PHONY: setup demo test lint unit

setup:
	bash scripts/bootstrap.sh

demo: setup
	bash scripts/demo.sh

test: setup lint
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check ivr tests
	.venv/bin/mypy ivr

unit: setup
	.venv/bin/python -m pytest tests/unit ivr
