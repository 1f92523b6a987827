"""Training throughput on real single-view ScanNet frames (20,000 points each).

    python benchmarks/bench_train.py [--iters 20] [--workers 2] [--voxel-size 0.02] [--config C]

Prepares the shared scene0000_00 posed frames with create_data (scannet_sv, rendered depth),
builds the model of ``--config`` (default the ESAM SV baseline, Res16UNet34C + 3-layer query
decoder, class-agnostic) and trains with
a DataLoader of ``--workers`` processes. Prints iterations/s, peak resident memory, and the
share of each iteration spent waiting for data, measured side by side in one run; the last
line is ``it_per_s=<x> peak_rss_gb=<y> data_wait_share=<z>``.
"""
import argparse
import os
import os.path as osp
import resource
import sys
import tempfile
import time

import torch

import oneformer3d  # noqa: F401
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.metainfo import SCANNET20
from oneformer3d.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = os.environ.get('ONEFORMER3D_DATA', osp.join(REPO, '..', 'shared', 'data'))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--voxel-size', type=float, default=0.02)
    p.add_argument('--config', default=osp.join(REPO, 'configs/esam/ESAM_sv_3d_scannet.py'))
    args = p.parse_args(argv)
    init_default_scope('oneformer3d')
    out = tempfile.mkdtemp(prefix='bench_sv_')
    create_scannet_sv_infos(osp.join(DATA, 'scannet'), out, SCANNET20, 'scannet_sv',
                            max_points=20000)
    cfg = Config.fromfile(args.config)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.update(data_root=out, ann_file='scannet_sv_oneformer3d_infos_train.pkl',
                  type='ScanNetSegDataset')
    dataset = DATASETS.build(ds_cfg)
    cfg.model.data_preprocessor.voxel_size = args.voxel_size
    model = MODELS.build(cfg.model)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True,
                                             num_samples=(args.iters + args.warmup) * 2)
    loader = DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=args.workers,
                        collate_fn=pseudo_collate, persistent_workers=args.workers > 0)
    it = iter(loader)
    wait = compute = 0.0
    for i in range(args.iters + args.warmup):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        data = model.data_preprocessor(batch, True)
        loss = sum(model.loss(data['inputs'], data['data_samples']).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if i >= args.warmup:
            wait += t1 - t0
            compute += t2 - t1
    total = wait + compute
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f'config {osp.relpath(args.config, REPO)}')
    print(f'points/frame 20000  voxel {args.voxel_size} m  workers {args.workers}  '
          f'iters {args.iters}  threads {torch.get_num_threads()}')
    print(f'time/iter {total / args.iters:.2f} s (data wait {wait / args.iters:.3f} s, '
          f'compute {compute / args.iters:.2f} s)')
    print(f'it_per_s={args.iters / total:.3f} peak_rss_gb={rss:.2f} '
          f'data_wait_share={wait / total:.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
