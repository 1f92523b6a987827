# oneformer3d — the README's commands. Every target creates the environment when missing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= ../shared/data/scannet/scans
SCENE  ?= scene0000_00
# make demo runs on one OpenMP thread with seed 0 (bitwise repeatable: it prints the figures the
# docs state); THREADS=2 is faster and not repeatable
THREADS ?= 1

.PHONY: env demo test overfit bench clean-env

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements/constraints-cpu.txt requirements/constraints-cuda.txt \
		setup.py tools/setup_env.sh tools/patch_minkowski_cuda.py
	VENV=$(VENV) bash tools/setup_env.sh

# main job on the embedded default: synthetic rooms -> create_data -> train -> test
demo: env
	OMP_NUM_THREADS=$(THREADS) $(PY) tools/demo.py --seed 0 --deterministic

test: env
	$(PY) -m pytest -q --durations=15 tests

# sanity check: train and evaluate on one scene; last line "class-agnostic AP50: <value>"
overfit: env
	$(PY) tools/overfit.py --data $(DATA) --scene $(SCENE)

bench: env
	$(PY) benchmarks/bench_train.py

clean-env:
	rm -rf $(VENV)
