"""Train a model: ``python tools/train.py CONFIG [--work-dir D] [--resume [CKPT]] [--amp]``.

Distributed: ``torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch``
(gloo on CPU, nccl on GPU). Outputs go to ``work_dirs/<config name>/`` by default: logs,
``vis_data``, checkpoints (``iter_*.pth`` / ``epoch_*.pth``, ``last_checkpoint``) and
``metrics.csv``.
"""
import argparse
import logging
import os
import sys

import torch

import oneformer3d  # noqa: F401  (compat fixes, registries)
from mmengine.config import Config, DictAction
from mmengine.runner import find_latest_checkpoint
from oneformer3d.engine import Runner
from oneformer3d.engine.work_dir_lock import WorkDirLock

from oneformer3d.utils import allow_unsafe_checkpoint
from oneformer3d.utils.compat import close_distributed, init_cpu_distributed
from oneformer3d.utils.config import add_repeatability_args, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train a oneformer3d model')
    p.add_argument('config')
    p.add_argument('--work-dir')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from CKPT, or from the latest checkpoint in the work dir')
    p.add_argument('--amp', action='store_true',
                   help='mixed precision: bf16 autocast on CPU, fp16 + loss scaling on GPU')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config keys, e.g. train_cfg.max_iters=10')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    add_repeatability_args(p)
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_cfg(args) -> Config:
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      args.seed, args.deterministic)
    if args.amp:
        cfg.optim_wrapper.type = 'MixedPrecisionOptimWrapper'
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
        if find_latest_checkpoint(cfg.work_dir) is None:
            # mmengine would log "resumed from None" and start over: say so plainly
            logging.getLogger('oneformer3d').warning(
                f'--resume: no checkpoint in {cfg.work_dir} (no last_checkpoint / *.pth): '
                f'training starts from scratch')
            print(f'--resume: no checkpoint in {cfg.work_dir}: training starts from scratch',
                  file=sys.stderr)
            cfg.resume = False
    elif args.resume:
        if not os.path.isfile(args.resume):
            raise SystemExit(f'--resume {args.resume}: no such checkpoint file')
        cfg.resume, cfg.load_from = True, args.resume
    if args.launcher != 'none' and not torch.cuda.is_available():
        # CPU DDP: gloo, and no device_ids (mmengine's default wrapper passes LOCAL_RANK)
        cfg.env_cfg.dist_cfg = dict(backend='gloo')
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = dict(
                type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                find_unused_parameters=cfg.get('find_unused_parameters', False))
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    if cfg.get('allow_unsafe_checkpoint'):
        allow_unsafe_checkpoint(True)
    # one run per work dir: checked before anything is built (the Runner holds the lock
    # while it trains, whichever tool starts it)
    if os.environ.get('RANK', '0') == '0':
        try:
            WorkDirLock(cfg.work_dir).acquire().release()
        except RuntimeError as err:
            raise SystemExit(f'error: {err}') from None
    done = False
    try:
        init_cpu_distributed(cfg.launcher)
        runner = Runner.from_cfg(cfg)
        if cfg.get('allow_unsafe_checkpoint'):
            runner.logger.warning('allow_unsafe_checkpoint=True: untrusted checkpoints may be '
                                  'unpickled')
        runner.train()
        done = True
    finally:
        runner = None  # its DDP model holds the process group: freed before the group goes
        close_distributed(sync=done)
    return 0


if __name__ == '__main__':
    logging.captureWarnings(True)
    sys.exit(main())
