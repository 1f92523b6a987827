"""Online streaming cost over a long stream: is per-frame time and memory flat?

    python benchmarks/bench_online_stream.py --frames 200 [--config C] [--checkpoint CKPT]

Streams the real sensor-depth sequence of ScanNet scene0000_00 (60 frames, looped to
``--frames``; ``--sequence sevenscenes``: 7-Scenes redkitchen, 50 frames; prepared with
create_data into a temporary folder unless ``--infos`` is given)
through the online model (memory + merge head + the config's merger). Prints, at frames 5,
50 and 200, the mean time per frame over the 5 frames ending there, the process's resident
memory and the online state size (memory + scene instances), and ends with
``time_ratio_200_5=<x> mem_ratio_200_5=<y>`` (goal: <= 1.2 and <= 1.5). Weights are random
unless ``--checkpoint``; the cost of a frame does not depend on them.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import oneformer3d  # noqa: F401
from oneformer3d.datasets.preprocessing.scannet_sequences import (create_rgbd_sequence_infos,
                                                                  create_scannet_mv_infos)
from oneformer3d.datasets.sequence_stream import SequenceStream
from oneformer3d.metainfo import SCANNET20, SCANNET200
from oneformer3d.models.online.sequence import OnlineSession
from oneformer3d.registry import MODELS
from oneformer3d.utils.load_report import load_file_checked

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))


def rss_mb() -> float:
    with open('/proc/self/statm') as fh:
        return int(fh.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 1e6


def default_sequence(name: str, out_dir: str, max_points: int) -> str:
    """Prepare a shared real sequence into ``out_dir``; returns its infos path."""
    if name == 'scannet':
        root = osp.join(DATA, 'scannet')
        if not osp.isdir(osp.join(root, 'posed_rgbd')):
            raise SystemExit(f'{root}/posed_rgbd: shared data not found (set ONEFORMER3D_DATA)')
        return create_scannet_mv_infos(root, out_dir, SCANNET20, 'scannet_mv',
                                       posed_dir=osp.join(root, 'posed_rgbd'),
                                       max_points=max_points, workers=2)['val']
    root = osp.join(DATA, 'sevenscenes', 'redkitchen')
    if not osp.isdir(root):
        raise SystemExit(f'{root}: shared data not found (set ONEFORMER3D_DATA)')
    return create_rgbd_sequence_infos(root, out_dir, SCANNET200, 'sevenscenes_mv',
                                      max_points=max_points)['val']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--frames', type=int, default=200)
    p.add_argument('--config', default=osp.join(REPO, 'configs/esam/'
                                                'ESAM_online_3d_scannet_sample.py'))
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--infos', default=None, help='MV infos to stream (default: --sequence)')
    p.add_argument('--sequence', choices=['scannet', 'sevenscenes'], default='scannet',
                   help='without --infos: the real ScanNet scene0000_00 sequence (60 frames, '
                        'sensor depth) or 7-Scenes redkitchen (50 frames, unlabeled)')
    p.add_argument('--max-points', type=int, default=20000)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    init_default_scope('oneformer3d')
    tmp = None
    if args.infos is None:
        tmp = tempfile.TemporaryDirectory()
        args.infos = default_sequence(args.sequence, tmp.name, args.max_points)
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    if args.checkpoint:       # strict, as tools/test.py: a benchmark of a model, not a guess
        print(load_file_checked(model, args.checkpoint,
                                hint='the checkpoint does not fit --config').summary())
    model.eval()
    stream = SequenceStream(args.infos, 0, args.frames)
    session = OnlineSession(model)
    times, rss, state, insts = [], [], [], []
    marks = sorted({m for m in (5, 50, 200, args.frames) if m <= args.frames})
    print(f'{stream.length} distinct frames looped to {args.frames}; torch threads '
          f'{torch.get_num_threads()}')
    print('| frame | ms/frame (mean of last 5) | RSS MB | online state MB | scene instances |')
    print('|---|---|---|---|---|')
    with torch.no_grad():
        for fr in stream:
            t = time.perf_counter()
            session.step(fr['points'], fr['superpoints'])
            times.append(time.perf_counter() - t)
            rss.append(rss_mb())
            state.append(session.state_nbytes() / 1e6)
            insts.append(len(session.merger))
            n = fr['index'] + 1
            if n in marks:
                print(f'| {n} | {np.mean(times[n - 5:n]) * 1e3:.0f} | {rss[-1]:.0f} | '
                      f'{state[-1]:.2f} | {insts[-1]} |')
    last = args.frames
    t_ratio = np.mean(times[last - 5:last]) / np.mean(times[0:5])
    m_ratio = rss[last - 1] / rss[4]
    stats = session.merger.stats
    print(f'merged={stats["merged"]} new={stats["new"]} evicted={stats["evicted"]}')
    print(f'time_ratio_{last}_5={t_ratio:.2f} mem_ratio_{last}_5={m_ratio:.2f}')
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
