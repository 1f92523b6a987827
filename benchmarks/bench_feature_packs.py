"""Feature-pack I/O and alignment training-step costs, measured side by side in one run.

    python benchmarks/bench_feature_packs.py [--pack-gb 1.0] [--data data/rlbench] [--iters 30]

1. A synthetic pack of ``--pack-gb`` GB (fp16, windows of 8 frames of 32x32x1024 — a
   DINOv2-L-sized grid) written as ``.pt`` and as ``.zarr`` (one chunk per frame); per sample:
   reading one frame from the zarr store vs ``torch.load`` of the whole ``.pt`` pack (what a
   loader without per-frame access pays). Goal: >= 100x.
2. Route-2 training steps on the prepared RLBench data (``tools/robot/prepare_rlbench.py``; skipped
   with a message when absent) with 2 DataLoader workers (persistent, zarr handles cached per
   worker): time split into data wait / forward / backward+step. Goal: data wait < 10 %.

Last line: ``zarr_vs_torchload_speedup=<x> data_wait_share=<y>``.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

import oneformer3d.robot  # noqa: F401  (registers the robot stack)
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from oneformer3d.robot.datasets.feature_packs import FeaturePack, write_pack
from oneformer3d.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def bench_io(pack_gb: float, samples: int = 20) -> float:
    t, h, w, c = 8, 32, 32, 1024
    per_window = t * h * w * c * 2
    windows = max(1, int(round(pack_gb * 1e9 / per_window)))
    tmp = tempfile.mkdtemp(dir=os.environ.get('TMPDIR'))
    try:
        feats = torch.randn(windows, t, h, w, c, dtype=torch.float16)
        paths = [[f'ep/step_{wi * t + ti:04d}.png' for ti in range(t)] for wi in range(windows)]
        t0 = time.perf_counter()
        size_pt = write_pack(osp.join(tmp, 'pack.pt'), feats, paths, {})
        t_pt = time.perf_counter() - t0
        t0 = time.perf_counter()
        size_z = write_pack(osp.join(tmp, 'pack.zarr'), feats, paths, {})
        t_z = time.perf_counter() - t0
        del feats
        print(f'pack: {windows} windows x {t} frames of {h}x{w}x{c} fp16; .pt {size_pt / 1e9:.2f} '
              f'GB (written in {t_pt:.1f} s), .zarr {size_z / 1e9:.2f} GB ({t_z:.1f} s)')
        rng = np.random.default_rng(0)
        steps = [f'step_{i:04d}' for i in rng.integers(0, windows * t, samples)]
        t_load = []
        for s in steps[:3]:                  # whole-file loads are slow: three are enough
            t0 = time.perf_counter()
            data = torch.load(osp.join(tmp, 'pack.pt'), map_location='cpu', weights_only=True)
            frame = data['per_frame_features'][int(s[5:]) // t, int(s[5:]) % t].float()
            t_load.append(time.perf_counter() - t0)
            del data, frame
        pack = FeaturePack(osp.join(tmp, 'pack.zarr'))
        pack.frame(steps[0])                 # open the handle once (a worker caches it)
        t_zarr = []
        for s in steps:
            t0 = time.perf_counter()
            pack.frame(s)
            t_zarr.append(time.perf_counter() - t0)
        speedup = np.median(t_load) / np.median(t_zarr)
        print(f'| read one frame | median time |\n|---|---|\n'
              f'| torch.load whole .pt pack | {np.median(t_load) * 1e3:.0f} ms |\n'
              f'| zarr frame (one chunk) | {np.median(t_zarr) * 1e3:.2f} ms |')
        return float(speedup)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_training(data_root: str, iters: int, workers: int) -> float:
    if not osp.isdir(osp.join(data_root, 'packs')):
        print(f'{data_root}: no prepared RLBench data (tools/robot/prepare_rlbench.py); training '
              f'step benchmark skipped')
        return float('nan')
    init_default_scope('oneformer3d')
    cfg = Config.fromfile(osp.join(REPO, 'configs/robot/distill_rgb2pc_rlbench.py'))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = data_root
    dataset = DATASETS.build(ds_cfg)
    # the config's InfiniteSampler, as the Runner uses it: no epoch boundary restarts the
    # workers' prefetching (a finite shuffle over this ~90-unit dataset would, every 6 steps)
    from mmengine.dataset import InfiniteSampler
    loader = DataLoader(dataset, batch_size=cfg.train_dataloader.batch_size,
                        sampler=InfiniteSampler(dataset, shuffle=True), num_workers=workers,
                        persistent_workers=workers > 0,
                        prefetch_factor=cfg.train_dataloader.prefetch_factor if workers else None,
                        collate_fn=default_collate)
    model = MODELS.build(cfg.model).train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    wait = fwd = bwd = 0.0
    warmup = 3
    t_end = time.perf_counter()
    for it, batch in enumerate(loader):
        t0 = time.perf_counter()
        losses = model(**batch, mode='loss')
        loss = sum(losses.values())
        t1 = time.perf_counter()
        optim.zero_grad()
        loss.backward()
        optim.step()
        t2 = time.perf_counter()
        if it >= warmup:
            wait += t0 - t_end
            fwd += t1 - t0
            bwd += t2 - t1
        t_end = time.perf_counter()
        if it + 1 >= iters + warmup:
            break
    total = wait + fwd + bwd
    print(f'\n| {iters} steps, batch {cfg.train_dataloader.batch_size}, {workers} workers | '
          f'ms/step | share |\n|---|---|---|')
    for name, v in (('data wait', wait), ('forward', fwd), ('backward + step', bwd)):
        print(f'| {name} | {v / iters * 1e3:.1f} | {v / total:.1%} |')
    return wait / total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pack-gb', type=float, default=1.0)
    p.add_argument('--data', default=osp.join(REPO, 'data', 'rlbench'))
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--workers', type=int, default=2)
    args = p.parse_args(argv)
    speedup = bench_io(args.pack_gb)
    share = bench_training(args.data, args.iters, args.workers)
    print(f'zarr_vs_torchload_speedup={speedup:.0f} data_wait_share={share:.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
