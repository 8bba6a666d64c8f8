# pipework: `make run` serves the built-in demo, `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "pipework needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
	  { echo "cannot create a virtualenv: on Debian, run 'apt-get install python3-venv'"; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# dubbo-python is a test peer only; its own dependencies (ZooKeeper, Nacos clients) are not needed
	$(PY) -m pip install -q --no-deps dubbo-python
	@touch $@

run: $(STAMP)
	$(VENV)/bin/pipework run

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/http_static.py $(BENCH_ARGS)
	$(PY) bench/http_proxy.py $(BENCH_ARGS)
	$(PY) bench/http_lb.py $(BENCH_ARGS)
	$(PY) bench/http_tls.py $(BENCH_ARGS)
	$(PY) bench/http_gateway.py $(BENCH_ARGS)
	$(PY) bench/http_cache.py $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check pipework tests bench examples
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
