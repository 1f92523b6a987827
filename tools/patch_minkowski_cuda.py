"""Patch an extracted MinkowskiEngine 0.5.4 sdist so that it builds with CUDA 12 (Hopper).

``python tools/patch_minkowski_cuda.py SRC_DIR [--nvtx-disable]`` (``tools/setup_env.sh`` calls
it on CUDA machines before building the wheel). Idempotent: a file that already has a fix is
left alone. Each change is printed.

The fixes users apply (../shared/REFERENCES.md, "MinkowskiEngine 0.5.4 on CUDA 12 / Hopper"):

* CUDA 12's thrust no longer includes these headers transitively (MinkowskiEngine issues
  #543, #594, #601): ``<thrust/execution_policy.h>`` in ``3rdparty/concurrent_unordered_map.cuh``,
  ``convolution_kernel.cuh`` and ``spmm.cu``; ``<thrust/unique.h>`` and ``<thrust/remove.h>`` in
  ``coordinate_map_gpu.cu``; ``<thrust/reduce.h>`` and ``<thrust/sort.h>`` in ``spmm.cu``;
* CUDA > 12.2 ships NVTX3 only, which the bundled cudf headers do not build against: compile
  with ``NVTX_DISABLE`` (#614, #621).

Exit status 1 with a message naming the file when an expected file is missing (another
MinkowskiEngine version).
"""
import argparse
import os.path as osp
import sys

INCLUDES = {
    'src/3rdparty/concurrent_unordered_map.cuh': ['thrust/execution_policy.h'],
    'src/convolution_kernel.cuh': ['thrust/execution_policy.h'],
    'src/spmm.cu': ['thrust/execution_policy.h', 'thrust/reduce.h', 'thrust/sort.h'],
    'src/coordinate_map_gpu.cu': ['thrust/unique.h', 'thrust/remove.h'],
}
NVTX_ANCHOR = 'NVCC_FLAGS += ["--expt-relaxed-constexpr", "--expt-extended-lambda"]'
NVTX_LINE = 'CC_FLAGS += ["-DNVTX_DISABLE"]; NVCC_FLAGS += ["-DNVTX_DISABLE"]  # oneformer3d'


def add_includes(path: str, headers) -> list:
    """Insert ``#include <h>`` before the first ``#include`` of ``path``; returns the headers
    added."""
    with open(path) as fh:
        lines = fh.read().split('\n')
    missing = [h for h in headers if f'#include <{h}>' not in lines]
    if not missing:
        return []
    first = next(i for i, line in enumerate(lines) if line.startswith('#include'))
    lines[first:first] = [f'#include <{h}>' for h in missing]
    with open(path, 'w') as fh:
        fh.write('\n'.join(lines))
    return missing


def disable_nvtx(setup_py: str) -> bool:
    with open(setup_py) as fh:
        text = fh.read()
    if NVTX_LINE in text:
        return False
    if NVTX_ANCHOR not in text:
        raise ValueError(f'{setup_py}: cannot find the NVCC_FLAGS line to extend')
    with open(setup_py, 'w') as fh:
        fh.write(text.replace(NVTX_ANCHOR, f'{NVTX_ANCHOR}\n{NVTX_LINE}', 1))
    return True


def patch(src: str, nvtx: bool) -> list:
    """Apply the fixes to the sdist folder ``src``; returns log lines."""
    log = []
    for rel, headers in INCLUDES.items():
        path = osp.join(src, rel)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: not found; is {src} a MinkowskiEngine 0.5.4 sdist?')
        added = add_includes(path, headers)
        log.append(f'{rel}: added {added}' if added else f'{rel}: already patched')
    if nvtx:
        changed = disable_nvtx(osp.join(src, 'setup.py'))
        log.append('setup.py: NVTX_DISABLE added' if changed else 'setup.py: NVTX already off')
    return log


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='extracted MinkowskiEngine-0.5.4 folder')
    p.add_argument('--nvtx-disable', action='store_true', help='for CUDA > 12.2')
    args = p.parse_args(argv)
    try:
        for line in patch(args.src, args.nvtx_disable):
            print(f'[patch_minkowski_cuda] {line}')
    except (FileNotFoundError, ValueError) as err:
        print(f'[patch_minkowski_cuda] error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
