"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir D]``.

Prints the metric table (ScanNet AP/AP50/AP25, class-agnostic AP, coverage, mIoU) and appends
a row to ``<work_dir>/metrics.csv``. The checkpoint must fit the config exactly (missing,
unexpected or shape-mismatched keys stop with the load report) unless ``--allow-partial-load``.
"""
import argparse
import sys

import oneformer3d  # noqa: F401
from mmengine.config import DictAction
from oneformer3d.engine import Runner

from oneformer3d.utils import allow_unsafe_checkpoint
from oneformer3d.utils.compat import close_distributed, init_cpu_distributed
from oneformer3d.utils.config import add_repeatability_args, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Test a oneformer3d model')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--work-dir')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    add_repeatability_args(p)
    p.add_argument('--allow-partial-load', action='store_true',
                   help='evaluate even when the checkpoint does not fill every weight of the '
                        'model (logged; the metrics.csv row is marked "partial")')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      args.seed, args.deterministic)
    cfg.load_from = args.checkpoint
    # evaluation loads strictly: a checkpoint of another config must not score random heads
    cfg.load_policy = dict(strict=not args.allow_partial_load, max_missing_fraction=1.0)
    if cfg.get('allow_unsafe_checkpoint'):
        allow_unsafe_checkpoint(True)
    init_cpu_distributed(cfg.launcher)
    runner = Runner.from_cfg(cfg)
    done = False
    try:
        metrics = runner.test()
        done = True
    finally:
        runner = None  # its DDP model holds the process group: freed before the group goes
        close_distributed(sync=done)
    for k, v in metrics.items():
        print(f'{k}: {v:.4f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
