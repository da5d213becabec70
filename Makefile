# Two commands do all the set-up: `make demo` and `make test` (see README.md).
SHELL := bash
PY ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Every test starts gateways, simulators and clouds as processes: compiled bytecode saves seconds
# per start (this environment sets PYTHONDONTWRITEBYTECODE, so nothing would ever be cached).
export UV_COMPILE_BYTECODE := 1
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test bench lint sysdeps venv clean

sysdeps:
	@bash deploy/dev/system-deps.sh

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==$(UV_VERSION)

venv: $(UV)
	$(UV) sync --frozen --extra test --python $(PY) -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check protocols
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers, a test file each at a time: most tests wait on servers and processes, not on the CPU.
test: sysdeps lint
	$(BIN)/pytest -n 2 --dist loadfile

bench: sysdeps venv
	$(BIN)/python -m tests.bench

demo:
	@bash deploy/dev/system-deps.sh --demo
	@$(MAKE) --no-print-directory venv
	$(BIN)/vendfleet demo $(ARGS)

clean:
	rm -rf $(TOOLS) $(VENV)
