.PHONY: setup demo test lint unit bench bench-quick

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

# The benchmark (docs/benchmarks.md): about 1 h 15 min on a quiet machine; the report goes to docs/.
bench: setup
	.venv/bin/python -c "import matplotlib" 2>/dev/null || .venv/bin/pip install -q --disable-pip-version-check -e '.[test,bench]'
	.venv/bin/ivr bench --out docs

# A 5-minute smoke run of it, reported in .ivr/bench/.
bench-quick: setup
	.venv/bin/python -c "import matplotlib" 2>/dev/null || .venv/bin/pip install -q --disable-pip-version-check -e '.[test,bench]'
	.venv/bin/ivr bench --quick
