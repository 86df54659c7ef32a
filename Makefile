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

# Until the SimBench demo lands, the main job predicts depth for the shipped example images with a
# tiny model built here. It is UNTRAINED (random weights): the pipeline runs, its depth means nothing.
demo: setup
	@echo "NOTE: the demo model is a tiny, UNTRAINED depth network; its depth maps are meaningless."
	$(BIN)/depthforge make-tiny-model depth-anything .cache/tiny-untrained-depth-anything
	$(BIN)/depthforge predict examples/images --model .cache/tiny-untrained-depth-anything --out outputs/demo-predict
	@echo "NOTE: outputs/demo-predict holds .npy depth + .png pictures from an UNTRAINED model."

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .cache outputs
