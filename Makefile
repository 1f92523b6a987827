# oneformer3d — the README's commands. Every target creates the environment when missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= ../shared/data/scannet/scans
SCENE  ?= scene0000_00

.PHONY: env test clean-env

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements/constraints-cpu.txt setup.py tools/setup_env.sh
	VENV=$(VENV) bash tools/setup_env.sh

test: env
	$(PY) -m pytest -q tests

clean-env:
	rm -rf $(VENV)
