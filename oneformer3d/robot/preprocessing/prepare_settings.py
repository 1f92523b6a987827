"""What ``tools/robot/prepare_rlbench.py`` made a data root with, and how to rebuild it.

The closed-loop evaluation (``tools/robot/eval_closed_loop.py``) must turn a live observation
into exactly the inputs the policy was trained on: the same point teacher (its weights are
saved beside the point files), the same pack encoders (configs, input size, seed, weights),
the same cameras, workspace and point count. The prepare tool writes them to
``<out>/prepare_args.json`` and ``<out>/pc_dataset/PC/<feat_root>/teacher_weights.pth``.
"""
import json
import os.path as osp
from typing import Dict, Tuple

import torch

from oneformer3d.registry import MODELS


def teacher_weights_path(out_dir: str, feat_root: str = 'teacher') -> str:
    """``<out>/pc_dataset/PC/<feat_root>/teacher_weights.pth``: the point teacher's state dict
    as the point files were made with it."""
    return osp.join(out_dir, 'pc_dataset', 'PC', feat_root, 'teacher_weights.pth')


def parse_spec(spec: str) -> Tuple[str, dict]:
    """``name=Type[:model_name]`` -> (name, encoder config)."""
    name, _, rest = spec.partition('=')
    typ, _, model_name = rest.partition(':')
    cfg = dict(type=typ or name)
    if model_name:
        cfg['model_name'] = model_name
    return name, cfg


def pack_encoder_configs(pack_encoders, pack_weights, short_side: int) -> Dict[str, dict]:
    """``{name: config}`` of the ``--pack-encoders`` specs (``--pack-weights`` and
    ``--short-side`` applied), in the given order."""
    weights = dict(w.split('=', 1) for w in pack_weights)
    out = {}
    for spec in pack_encoders:
        name, cfg = parse_spec(spec)
        if name in weights:
            cfg['pretrained'] = weights[name]
        cfg['short_side'] = short_side
        out[name] = cfg
    return out


def build_pack_encoders(configs: Dict[str, dict], seed: int) -> Dict[str, torch.nn.Module]:
    """The pack encoders as the prepare tool builds them (``torch.manual_seed(seed)`` before
    each, so random-init encoders are the same on every run)."""
    out = {}
    for name, cfg in configs.items():
        torch.manual_seed(seed)
        out[name] = MODELS.build(dict(cfg)).eval()
    return out


def load_prepare_args(data_root: str) -> dict:
    """``<data_root>/prepare_args.json``.

    Raises:
        FileNotFoundError: naming the file and the command that writes it.
    """
    path = osp.join(data_root, 'prepare_args.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: missing (a data root made by tools/robot/'
                                f'prepare_rlbench.py, which writes it, is needed)')
    with open(path) as fh:
        return json.load(fh)


def load_teacher(data_root: str, args: dict) -> torch.nn.Module:
    """The frozen point teacher with the weights its point files were made with.

    Raises:
        FileNotFoundError: no saved weights (naming the file).
    """
    path = teacher_weights_path(data_root, args.get('feat_root', 'teacher'))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no point-teacher weights (prepare the data root '
                                f'again with tools/robot/prepare_rlbench.py)')
    teacher = MODELS.build(dict(type=args['teacher'])).eval()
    teacher.load_state_dict(torch.load(path, map_location='cpu', weights_only=True))
    return teacher.requires_grad_(False)
