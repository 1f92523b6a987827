#!/usr/bin/env bash
# Create the project's virtual environment (idempotent; `make env` calls this).
#
#   VENV=.venv                      where the venv lives
#   PYTHON=python3.11               interpreter used to create it
#   ONEFORMER3D_WHEEL_CACHE=~/.cache/oneformer3d/wheels
#                                   where the MinkowskiEngine wheel is cached (built once, ~6 min on 2 cores)
#   ONEFORMER3D_CUDA=auto|0|1       auto: CUDA build when `nvidia-smi -L` lists a GPU
#
# Steps (facts behind each in ../shared/STACK.md):
#   1. libopenblas-dev via apt when missing (MinkowskiEngine links BLAS);
#   2. venv with setuptools<81 (MinkowskiEngine's setup.py needs pkg_resources);
#   3. requirements.txt, with requirements/constraints-cpu.txt on CPU machines (pins the CPU torch build);
#   4. MinkowskiEngine 0.5.4 built once into a wheel cache keyed by torch version, then installed from it;
#   5. this package in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
WHEEL_CACHE=${ONEFORMER3D_WHEEL_CACHE:-$HOME/.cache/oneformer3d/wheels}
CUDA=${ONEFORMER3D_CUDA:-auto}
if [ "$CUDA" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then CUDA=1; else CUDA=0; fi
fi
log() { printf '[setup_env %(%H:%M:%S)T] %s\n' -1 "$*"; }
t0=$SECONDS

if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
  log "installing libopenblas-dev (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip "setuptools<81" wheel

CONSTRAINTS=()
if [ "$CUDA" = 0 ]; then CONSTRAINTS=(-c requirements/constraints-cpu.txt); fi
log "installing requirements (cuda=$CUDA)"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r requirements.txt

if ! "$VENV/bin/python" -m pip show -q MinkowskiEngine >/dev/null 2>&1; then
  TORCH_TAG=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.replace("+", "_"))')
  CACHE_DIR="$WHEEL_CACHE/torch-$TORCH_TAG"
  mkdir -p "$CACHE_DIR"
  WHEEL=$(ls "$CACHE_DIR"/[Mm]inkowski[Ee]ngine-0.5.4-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$WHEEL" ]; then
    log "building MinkowskiEngine 0.5.4 wheel into $CACHE_DIR (once; ~6 min on 2 cores, 2.5 GB RAM)"
    BUILD_OPTS=(--config-settings=--build-option=--blas=openblas)
    [ "$CUDA" = 0 ] && BUILD_OPTS+=(--config-settings=--build-option=--cpu_only)
    BUILD_TMP=$(mktemp -d)
    (cd "$BUILD_TMP" && "$OLDPWD/$VENV/bin/python" -m pip wheel --no-deps --no-build-isolation \
        "${BUILD_OPTS[@]}" -w "$CACHE_DIR" MinkowskiEngine==0.5.4)
    rm -rf "$BUILD_TMP"
    WHEEL=$(ls "$CACHE_DIR"/[Mm]inkowski[Ee]ngine-0.5.4-*.whl | head -n 1)
  fi
  log "installing $(basename "$WHEEL")"
  "${PIP[@]}" install -q --no-deps "$WHEEL"
fi

"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
touch "$VENV/.installed"
log "environment ready in $((SECONDS - t0)) s"
