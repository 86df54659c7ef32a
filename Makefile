# Set-up and the two commands of the README contract. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The exact pin makes this machine take its local CPU wheel; on a GPU machine the same pin
# resolves to PyPI's CUDA build.
TORCH_PIN ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
# For the tests of prepare-nuscenes, without the devkit's numpy<2 pin (its imports come with .[dev]).
NUSCENES_DEVKIT ?= nuscenes-devkit==1.2.0

.PHONY: setup demo test lint clean

$(BIN)/depthforge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps "$(NUSCENES_DEVKIT)"
	touch $@

setup: $(BIN)/depthforge

# The main job: the whole method on SimBench, offline, on a CPU (about 3 minutes after set-up):
# render scenes, label them with the bundled teacher, make night, fog, transparent and mirror images with the physics
# backend, fine-tune the student, and score teacher and student on held-out rendered scenes.
demo: setup
	$(BIN)/depthforge demo

test: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) .cache outputs
