# Every target does its own set-up on a fresh machine: a venv with the package and the dev
# group, and system tools (promtool, amtool, ...) from Debian via scripts/install-tools.sh.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv tools lint typecheck test generate check-generated demo bench fuzz clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=25.1'
	$(PY) -m pip install -q -e '.[all,demo]' --group dev
	@touch $(STAMP)

venv: $(STAMP)

tools:
	@bash scripts/install-tools.sh

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy --strict telemetry

test: venv tools lint check-generated
	$(PY) -m pytest $(PYTEST_ARGS)

generate: venv
	$(PY) -m telemetry generate

check-generated: venv
	$(PY) -m telemetry generate --check

demo: venv tools
	$(PY) -m examples.drill --out demo-report

bench: venv
	$(PY) -m bench

# A longer coverage-guided fuzz run of the header/log parsers (FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 60
fuzz: venv
	$(PY) -m fuzz --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
