# `make demo` and `make test` work on a fresh clone: each sets up the virtual environment and
# builds the extension in release mode first.
VENV   := $(abspath .venv)
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ENVVARS := VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH PYO3_PYTHON=$(PY)

.PHONY: setup build demo test test-rust test-python lint bench clean

setup: $(STAMP)

$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

build: setup
	$(ENVVARS) maturin develop --release --quiet

demo: build
	$(VENV)/bin/pmargin demo

test: build test-rust test-python

test-rust:
	$(ENVVARS) cargo test -p pmargin-core --quiet

test-python: build
	$(PY) -m pytest -q

lint: setup
	cargo fmt --all -- --check
	$(ENVVARS) cargo clippy --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(ENVVARS) $(PY) -m mypy.stubtest pmargin._core --mypy-config-file pyproject.toml

bench: build
	$(PY) benches/bench_grid.py

clean:
	rm -rf $(VENV) target
