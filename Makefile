# Two commands do everything on a fresh Debian/Ubuntu machine:
#   make demo   install what is missing, then run the toolkit end to end on datasets/training_data
#   make test   install what is missing, then run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
# examples/onnx_player.py's own environment: numpy, scipy and onnxruntime, no TensorFlow (its test runs there).
PLAYER_VENV := .venv-player
PLAYER_STAMP := $(PLAYER_VENV)/.requirements-installed

.PHONY: setup system-deps venv demo check test test-fast bench bench-library dataset recorded library clean-outputs

setup: system-deps venv

system-deps:
	@scripts/install_system_deps.sh

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .   # the musicgen package itself, so bench/ and tests import it
	@touch $(STAMP)

$(PLAYER_STAMP): examples/requirements.txt
	@test -x $(PLAYER_VENV)/bin/python || $(PYTHON) -m venv $(PLAYER_VENV)
	$(PLAYER_VENV)/bin/python -m pip install --quiet -r examples/requirements.txt
	@touch $(PLAYER_STAMP)

demo: setup
	scripts/demo.sh

# The linter, and the import contract in pyproject.toml (imports run downward only).
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# One worker a core (pytest-xdist), a test file's tests on one worker, so that its module fixtures are made once:
# most of the suite's time is Python processes starting TensorFlow, which two at once shorten by a third on 2 cores.
test: check $(PLAYER_STAMP)
	@scripts/install_system_deps.sh --browser
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile tests

# The edit-run loop: the checks, then every test that neither trains or runs a network nor starts a script.
test-fast: check
	$(PY) -m pytest -m "not slow" tests

bench: setup
	$(PY) bench/bench_convert.py
	$(PY) bench/bench_train.py
	$(PY) bench/bench_generate.py

# The hour-long library in one run (about 75 minutes on 2 cores): disk, conversion, --minutes 60 training, songs.
bench-library: library
	$(PY) bench/bench_library.py

# Re-render the bundled datasets (needs fluidsynth and fluid-soundfont-gm as well).
dataset:
	python3 datasets/make_default_dataset.py --set piano
	python3 datasets/make_default_dataset.py --set ensemble

# The development sets of recorded music (datasets/recorded/orchestral, band) from Debian's game-data
# packages: apt-get download + dpkg-deb, no game installed. Not committed; needs apt-get and sox.
recorded:
	python3 datasets/make_recorded_dataset.py

# The hour-long library (datasets/library: Bach chorales and string quartets from music21's corpus,
# rendered by FluidSynth). Not committed; installs fluidsynth and the soundfont, and music21 into .venv.
library: setup
	@scripts/install_system_deps.sh --renderer
	$(PY) -m pip install --quiet music21
	$(PY) datasets/make_library.py
