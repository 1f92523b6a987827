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
#   3. requirements.txt, with requirements/constraints-cpu.txt on CPU machines (pins the CPU torch build)
#      or requirements/constraints-cuda.txt on CUDA machines (pins a CUDA 12 torch build);
#   4. MinkowskiEngine 0.5.4 built once into a wheel cache keyed by torch version (and on CUDA by nvcc
#      version and GPU arch), then installed from it. On CUDA the sdist is downloaded into the build
#      folder and patched by tools/patch_minkowski_cuda.py (thrust includes; NVTX_DISABLE for
#      CUDA > 12.2), with TORCH_CUDA_ARCH_LIST from the visible GPU (9.0 on H100/H200);
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

CONSTRAINTS=(-c requirements/constraints-cpu.txt)
if [ "$CUDA" = 1 ]; then CONSTRAINTS=(-c requirements/constraints-cuda.txt); fi
log "installing requirements (cuda=$CUDA)"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r requirements.txt

if ! "$VENV/bin/python" -m pip show -q MinkowskiEngine >/dev/null 2>&1; then
  TORCH_TAG=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.replace("+", "_"))')
  BUILD_OPTS=(--config-settings=--build-option=--blas=openblas)
  if [ "$CUDA" = 1 ]; then
    # CUDA build: the toolkit's nvcc must match torch's CUDA major version
    TORCH_CUDA=$("$VENV/bin/python" -c 'import torch; print(torch.version.cuda or "")')
    NVCC_CUDA=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
    if [ -z "$TORCH_CUDA" ] || [ -z "$NVCC_CUDA" ] || [ "${TORCH_CUDA%%.*}" != "${NVCC_CUDA%%.*}" ]; then
      log "error: CUDA build needs a CUDA toolkit (nvcc) of torch's CUDA major version; torch CUDA '${TORCH_CUDA}', nvcc '${NVCC_CUDA:-not found}' (set CUDA_HOME/PATH, or ONEFORMER3D_CUDA=0)"
      exit 1
    fi
    # compute capability of the visible GPU(s), e.g. 9.0 for H100/H200
    ARCH=${TORCH_CUDA_ARCH_LIST:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | sort -u | paste -sd';' -)}
    export TORCH_CUDA_ARCH_LIST="$ARCH"
    CACHE_DIR="$WHEEL_CACHE/torch-$TORCH_TAG-cuda$NVCC_CUDA-sm${ARCH//[;.]/_}"
    BUILD_OPTS+=(--config-settings=--build-option=--force_cuda)
    log "CUDA build: torch CUDA $TORCH_CUDA, nvcc $NVCC_CUDA, TORCH_CUDA_ARCH_LIST=$ARCH"
  else
    CACHE_DIR="$WHEEL_CACHE/torch-$TORCH_TAG"
    BUILD_OPTS+=(--config-settings=--build-option=--cpu_only)
  fi
  mkdir -p "$CACHE_DIR"
  WHEEL=$(ls "$CACHE_DIR"/[Mm]inkowski[Ee]ngine-0.5.4-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$WHEEL" ]; then
    log "building MinkowskiEngine 0.5.4 wheel into $CACHE_DIR (once; ~7 min on 2 cores, 2.5 GB RAM)"
    BUILD_TMP=$(mktemp -d)
    ROOT=$PWD
    if [ "$CUDA" = 1 ]; then
      # the sdist, patched for CUDA 12 in the build folder (tools/patch_minkowski_cuda.py)
      (cd "$BUILD_TMP" && "$ROOT/$VENV/bin/python" -m pip download -q --no-deps --no-binary :all: \
          --no-build-isolation -d . MinkowskiEngine==0.5.4 && tar xzf MinkowskiEngine-0.5.4.tar.gz)
      NVTX=()
      if [ "$(printf '%s\n12.2\n' "$NVCC_CUDA" | sort -V | head -n 1)" = 12.2 ] && [ "$NVCC_CUDA" != 12.2 ]; then
        NVTX=(--nvtx-disable)
      fi
      "$VENV/bin/python" tools/patch_minkowski_cuda.py "$BUILD_TMP/MinkowskiEngine-0.5.4" "${NVTX[@]}"
      SRC="$BUILD_TMP/MinkowskiEngine-0.5.4"
    else
      SRC=MinkowskiEngine==0.5.4
    fi
    (cd "$BUILD_TMP" && "$ROOT/$VENV/bin/python" -m pip wheel --no-deps --no-build-isolation \
        "${BUILD_OPTS[@]}" -w "$CACHE_DIR" "$SRC")
    rm -rf "$BUILD_TMP"
    WHEEL=$(ls "$CACHE_DIR"/[Mm]inkowski[Ee]ngine-0.5.4-*.whl | head -n 1)
  fi
  log "installing $(basename "$WHEEL")"
  "${PIP[@]}" install -q --no-deps "$WHEEL"
fi

"${PIP[@]}" install -q --no-deps --no-build-isolation -e .
touch "$VENV/.installed"
log "environment ready in $((SECONDS - t0)) s"
