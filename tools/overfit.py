"""Overfitting sanity check: prepare one scene, train on it, evaluate on it.

``python tools/overfit.py --data DIR --scene SCENE`` (``make overfit DATA=... SCENE=...``).
DIR holds ``<scene>_vert.npy``, ``<scene>_ins_label.npy``, ``<scene>_sem_label.npy`` (NYU40 ids)
or raw ScanNet scene folders. The last printed line is ``class-agnostic AP50: <value>``; on a
healthy model it approaches 1 (matching, losses, decoding and evaluation agree).
"""
import argparse
import os.path as osp
import sys
import time

import oneformer3d  # noqa: F401
from mmengine.config import DictAction
from oneformer3d.engine import Runner

from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.metainfo import get_class_table
from oneformer3d.utils.config import add_repeatability_args, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--scene', required=True)
    p.add_argument('--config', default='configs/oneformer3d/overfit_scene.py')
    p.add_argument('--work-dir', default=None)
    p.add_argument('--iters', type=int, default=None, help='override max_iters')
    p.add_argument('--voxel-size', type=float, default=None)
    p.add_argument('--table', default='scannet', choices=['scannet', 'scannet200'])
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config keys (key=value), checked as tools/train.py does')
    add_repeatability_args(p)
    return p.parse_args(argv)


def run_overfit(args) -> dict:
    """Prepare, train, test; returns the test metrics plus ``iterations`` and ``wall_s``."""
    t0 = time.time()
    work_dir = args.work_dir or osp.join('work_dirs', f'overfit_{args.scene}')
    data_dir = osp.join(work_dir, 'data')
    create_scannet_infos(args.data, data_dir, get_class_table(args.table), args.table,
                         scenes=[args.scene])
    cfg = load_config(args.config, args.cfg_options, work_dir=work_dir, seed=args.seed,
                      deterministic=args.deterministic)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_dir
        cfg[loader].dataset.ann_file = f'{args.table}_oneformer3d_infos_train.pkl'
    if args.table == 'scannet200':
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[loader].dataset.type = 'ScanNet200SegDataset'
    if args.iters:
        cfg.train_cfg.max_iters = args.iters
        cfg.train_cfg.val_interval = args.iters
        cfg.param_scheduler.end = args.iters
        cfg.default_hooks.checkpoint.interval = args.iters
    if args.voxel_size:
        cfg.model.data_preprocessor.voxel_size = args.voxel_size
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = dict(runner.test(), iterations=cfg.train_cfg.max_iters, wall_s=time.time() - t0)
    return metrics


def main(argv=None):
    metrics = run_overfit(parse_args(argv))
    print(f'iterations: {metrics["iterations"]}  wall time: {metrics["wall_s"]:.0f} s')
    print(f'class-agnostic AP / AP50 / AP25: {metrics["ca_ap"]:.4f} / {metrics["ca_ap50"]:.4f}'
          f' / {metrics["ca_ap25"]:.4f}')
    print(f'class-agnostic AP50: {metrics["ca_ap50"]:.4f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
