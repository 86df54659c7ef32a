# Set-up and the two commands of the README contract. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The exact pin makes this machine take its local CPU wheel; on a GPU machine the same pin
# resolves to PyPI's CUDA build.
TORCH_PIN ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test lint clean

$(BIN)/depthforge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/depthforge

demo: setup
	$(BIN)/python examples/make_tiny_model.py --out .cache/tiny-untrained-dpt
	$(BIN)/depthforge predict examples/images --model .cache/tiny-untrained-dpt --out outputs/demo-predict

test: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

clean:
	rm -rf $(VENV) .cache outputs
