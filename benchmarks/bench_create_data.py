"""Data preparation speed on the real sensor-depth sequence of scene0000_00.

    python benchmarks/bench_create_data.py [--dataset scannet_mv] [--workers 2]

Converts the 60 frames of ``scannet/posed_rgbd`` (every posed frame with a depth image,
20,000 points each, graph superpoints) with one process and with ``--workers`` processes,
checks that both outputs are byte-identical, and profiles where one process's time goes.
Prints, one ``name=value`` a line:

* ``frames_per_s_1w``, ``frames_per_s_<N>w``, ``speedup_<N>w_vs_1w`` (goal >= 1.7 on 2 cores),
  ``identical_output`` (1 = every file equal);
* ``share_<stage>``: the share of one process's time (12 frames under cProfile) spent in
  colour/depth decoding and back-projection, the scan query and label transfer, superpoints
  and file writing;
* ``projected_hours_<frames>_frames_<cores>_cores``: ``--target-frames`` (ESAM's ScanNet200-MV,
  every 40th of ~2.5M raw frames: ~60k) at ``--target-cores`` workers, assuming the parallel
  efficiency measured here (``speedup / N``) holds there.

The numba kernel is compiled before the timed runs (a fresh process compiles it once,
~1.5 s, or loads it from its cache).
"""
import argparse
import cProfile
import filecmp
import os
import os.path as osp
import pstats
import sys
import tempfile
import time

import numpy as np

import oneformer3d  # noqa: F401
from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.datasets.preprocessing.scannet_sequences import create_scannet_mv_infos
from oneformer3d.datasets.preprocessing.superpoints import graph_superpoints
from oneformer3d.metainfo import SCANNET20

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))
STAGES = {  # stage -> the function doing it (cumulative time in the profile)
    'decode_backproject': 'frame_cloud',
    'superpoints': 'compute_superpoints',
    'write': 'write_bin',
}


def convert(dataset: str, out_dir: str, workers: int, frames=None) -> int:
    fn = create_scannet_mv_infos if dataset.endswith('_mv') else create_scannet_sv_infos
    res = fn(osp.join(DATA, 'scannet'), out_dir, SCANNET20, dataset,
             posed_dir=osp.join(DATA, 'scannet', 'posed_rgbd'), workers=workers,
             frame_interval=1 if frames is None else 60 // frames)
    return res['summary']['frames']


def same_bytes(a: str, b: str) -> bool:
    files = sorted(osp.relpath(osp.join(d, f), a) for d, _, fs in os.walk(a) for f in fs)
    other = sorted(osp.relpath(osp.join(d, f), b) for d, _, fs in os.walk(b) for f in fs)
    return files == other and not filecmp.cmpfiles(a, b, files, shallow=False)[1]


def stage_shares(dataset: str, tmp: str) -> dict:
    """Share of a one-process run (12 frames, under cProfile) spent in each stage."""
    prof = cProfile.Profile()
    prof.runcall(convert, dataset, osp.join(tmp, 'profiled'), 1, 12)
    stats = pstats.Stats(prof).stats
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    cum = {}
    for (_, _, name), (_, _, _, ct, _) in stats.items():
        cum[name] = cum.get(name, 0.0) + ct
    out = {stage: cum.get(fn, 0.0) / total for stage, fn in STAGES.items()}
    # cKDTree.query (Cython) is not seen by the profiler: the nearest-scan-vertex query, the
    # on-scan check and the label transfer count in the frame converter's own time
    out['scan_query_labels'] = sum(tt for (_, _, name), (_, _, tt, _, _) in stats.items()
                                   if name in ('mv_frame', 'convert_frame')) / total
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', default='scannet_mv', choices=['scannet_mv', 'scannet_sv'])
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--target-frames', type=int, default=60000)
    p.add_argument('--target-cores', type=int, default=16)
    args = p.parse_args(argv)
    if not osp.isdir(osp.join(DATA, 'scannet', 'posed_rgbd')):
        raise SystemExit(f'{DATA}/scannet/posed_rgbd: shared data not found '
                         f'(set ONEFORMER3D_DATA)')
    graph_superpoints(np.random.default_rng(0).random((200, 6)).astype(np.float32))  # compile
    with tempfile.TemporaryDirectory() as tmp:
        rates = {}
        for w in (1, args.workers):
            t = time.perf_counter()
            n = convert(args.dataset, osp.join(tmp, f'{w}w'), w)
            rates[w] = n / (time.perf_counter() - t)
            print(f'frames_per_s_{w}w={rates[w]:.2f}', flush=True)
        speedup = rates[args.workers] / rates[1]
        print(f'speedup_{args.workers}w_vs_1w={speedup:.2f}')
        same = same_bytes(osp.join(tmp, '1w'), osp.join(tmp, f'{args.workers}w'))
        print(f'identical_output={int(same)}')
        for stage, share in stage_shares(args.dataset, tmp).items():
            print(f'share_{stage}={share:.3f}')
    efficiency = speedup / args.workers
    hours = args.target_frames / (rates[1] * args.target_cores * efficiency) / 3600
    print(f'projected_hours_{args.target_frames}_frames_{args.target_cores}_cores={hours:.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
