"""Convert an upstream checkpoint to ours:
``python tools/convert_checkpoint.py {oneformer3d,esam,esam_online} IN.pth OUT.pth [--config CFG]
[--allow-unsafe]``.

``oneformer3d``: a ``filaPro/oneformer3d`` ScanNet200 checkpoint (``ScanNet200OneFormer3D``)
for ``configs/oneformer3d/oneformer3d_1xb4_scannet200.py``; ``esam``: an ``xuxw98/ESAM``
single-view ScanNet200 checkpoint (``ScanNet200MixFormer3D``) for
``configs/esam/ESAM_sv_1xb4_scannet200_CA.py``; ``esam_online``: its online checkpoint
(``ScanNet200MixFormer3D_Online``) for ``configs/esam/ESAM_online_scannet200_CA.py``. Every
upstream tensor is mapped or
dropped by a stated rule (``oneformer3d/utils/upstream_checkpoint.py``); an unmapped one is an
error. With ``--config`` the result is loaded into that config's model strictly (every key of
ours filled, none unexpected, shapes equal) before it is written. The output holds only
``state_dict`` and ``meta`` (weights-only loadable).

Upstream checkpoints are mmengine pickles with optimizer and message-hub state: they need
unpickling, which runs code from the file. ``--allow-unsafe`` opts in for a file you trust.
"""
import argparse
import os.path as osp
import sys

import torch

import oneformer3d  # noqa: F401
from oneformer3d.utils import allow_unsafe_checkpoint, load_local_checkpoint
from oneformer3d.utils.load_report import checkpoint_state_dict
from oneformer3d.utils.upstream_checkpoint import CONVERTERS, DROPPED


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('kind', choices=sorted(CONVERTERS))
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--config', default=None,
                   help='check the result loads strictly into this config\'s model')
    p.add_argument('--allow-unsafe', action='store_true',
                   help='unpickle a checkpoint that is not weights-only safe (trusted files)')
    return p.parse_args(argv)


def check_against_config(state, config, source='converted checkpoint'):
    """Load ``state`` into ``config``'s model; raises ``ValueError`` with the report when a
    key is missing, unexpected or of another shape."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from oneformer3d.registry import MODELS
    from oneformer3d.utils.load_report import load_state_dict_checked
    init_default_scope('oneformer3d')
    cfg = Config.fromfile(config)
    if cfg.model.get('backbone') and cfg.model.backbone.get('pretrained'):
        cfg.model.backbone.pretrained = None    # the converted state replaces every weight
    model = MODELS.build(cfg.model)
    report = load_state_dict_checked(model, state, source)
    report.check(strict=True, hint=f'the converted checkpoint does not fit {config}')
    return report


def main(argv=None):
    args = parse_args(argv)
    allow_unsafe_checkpoint(args.allow_unsafe)   # per call: never a leftover opt-in
    try:
        state = checkpoint_state_dict(load_local_checkpoint(args.src, 'cpu'), args.src)
        ours, dropped = CONVERTERS[args.kind](state)
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    except KeyError as err:
        print(f'{args.src}: {err.args[0]}', file=sys.stderr)
        return 1
    for key in dropped:
        print(f'dropped {key}: {DROPPED[key]}')
    if args.config:
        try:
            print(check_against_config(ours, args.config, args.src).summary())
        except ValueError as err:
            print(err, file=sys.stderr)
            return 1
    meta = dict(converted_from=osp.basename(args.src), converter=args.kind,
                upstream_tensors=len(state), dropped=dropped)
    torch.save(dict(state_dict=ours, meta=meta), args.dst)
    print(f'{args.dst}: {len(ours)} tensors ({len(state)} upstream, {len(dropped)} dropped)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
