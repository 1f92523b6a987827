"""The main job on the embedded default data: ``python tools/demo.py`` (``make demo``).

1. generate procedural ScanNet-format rooms with posed RGB-D frames (data/demo/raw);
2. create_data: reconstructed scans (data/demo/scannet) and single-view frames
   (data/demo/scannet_sv);
3. train configs/oneformer3d/oneformer3d_scannet_demo.py (work_dirs/oneformer3d_scannet_demo);
4. test the final checkpoint on the held-out rooms and print the metrics table.
"""
import argparse
import os.path as osp
import sys
import time

import oneformer3d  # noqa: F401
from mmengine.config import Config
from oneformer3d.engine import Runner

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.datasets.preprocessing.synthetic_rooms import make_demo_dataset
from oneformer3d.metainfo import SCANNET20

CONFIG = 'configs/oneformer3d/oneformer3d_scannet_demo.py'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', default='data/demo')
    p.add_argument('--work-dir', default='work_dirs/oneformer3d_scannet_demo')
    p.add_argument('--scenes', type=int, default=6)
    p.add_argument('--iters', type=int, default=None, help='override max_iters')
    args = p.parse_args(argv)
    times = {}
    t = time.time()
    raw = osp.join(args.data_dir, 'raw')
    make_demo_dataset(raw, num_scenes=args.scenes)
    times['generate'] = time.time() - t
    t = time.time()
    scans = create_scannet_infos(osp.join(raw, 'scans'), osp.join(args.data_dir, 'scannet'),
                                 SCANNET20, 'scannet', split_dir=raw)
    sv = create_scannet_sv_infos(raw, osp.join(args.data_dir, 'scannet_sv'), SCANNET20,
                                 'scannet_sv')
    times['create_data'] = time.time() - t
    print(f'create_data: {scans["summary"]}  single-view: {sv["summary"]}')
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = args.work_dir
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = osp.join(args.data_dir, 'scannet')
    if args.iters:
        cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = args.iters
        cfg.param_scheduler.end = cfg.default_hooks.checkpoint.interval = args.iters
    t = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    times['train'] = time.time() - t
    t = time.time()
    metrics = runner.test()
    times['test'] = time.time() - t
    print('\nDemo metrics on the held-out rooms (ScanNet-20 classes):')
    for k, v in metrics.items():
        print(f'  {k:<14}{v:.4f}')
    print('step times (s): ' + '  '.join(f'{k} {v:.0f}' for k, v in times.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
