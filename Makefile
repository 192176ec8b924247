# Two commands do all the set-up on a fresh machine (see README):
#   make demo   - the main job
#   make test   - the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,dashboard,postgres]"
	touch $(STAMP)

# The main job: a design run on the shipped default model for all three of its conditions, at the
# descriptors of a held-out simulation (phi 0.475, chi 3.13, t = 10,000), tolerance 0.02, on CPU.
# Running it again resumes the same study (nothing is lost or repeated).
demo: $(STAMP)
	$(BIN)/invdesign design --model ch2-default --target ABS_f_D=0.47 --target CT_f_D_tort1=0.51 \
		--target CT_f_A_tort1=0.57 --tolerance 0.02 --budget 12 --samples 4 --seed 0 --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
