"""Key maps from upstream OneFormer3D / ESAM checkpoints to our modules.

An upstream checkpoint (``filaPro/oneformer3d`` ``ScanNet200OneFormer3D``; mmengine format,
weights under ``state_dict``) names its parts ``backbone.*`` (Mask3D's Res16UNet34C: the same
names as ours) and ``decoder.*`` (``ScanNetQueryDecoder``). Every upstream tensor is either
mapped onto one of ours or dropped by a rule stated here; anything else is an error, so a
converted checkpoint never silently loses weights.
"""
import re
from typing import Dict, List, Tuple

import torch

# upstream decoder name -> ours (regex on the part after 'decoder.')
_DECODER_RULES = [
    (r'^cross_attn_layers\.(\d+)\.', r'layers.\1.cross_attn.'),
    (r'^self_attn_layers\.(\d+)\.', r'layers.\1.self_attn.'),
    (r'^ffn_layers\.(\d+)\.', r'layers.\1.ffn.'),
    (r'^out_cls\.', 'cls_head.'),
    (r'^out_score\.', 'score_head.'),
    (r'^out_sem\.', 'sem_head.'),
    (r'^(input_proj|query_proj|x_mask|out_norm)\.', r'\1.'),
]

# upstream tensors with no counterpart, and why
DROPPED = {
    'backbone.final.kernel': "Res16UNet34C's 1x1 output conv: built but not called in "
                             "upstream's forward (the output is block8's)",
    'backbone.final.bias': 'the same conv',
}

# ScanNet200: upstream swaps chair and floor (SwapChairAndFloor) so that the stuff classes
# wall and floor are semantic ids 0 and 1; our class table keeps the benchmark order
# (wall 0, chair 1, floor 2; oneformer3d/metainfo.py). The 198 instance classes are the same
# list in the same order on both sides (chair first).
SCANNET200_SEMANTIC_SWAP = (1, 2)


def _map_decoder(name: str) -> str:
    for pattern, repl in _DECODER_RULES:
        if re.match(pattern, name):
            return re.sub(pattern, repl, name)
    raise KeyError(name)


def convert_oneformer3d(state: Dict[str, torch.Tensor], swap_chair_floor: bool = True
                        ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Map a ``ScanNet200OneFormer3D`` state dict onto our ``OneFormer3D``.

    Args:
        state: upstream ``{name: tensor}`` (the checkpoint's ``state_dict``).
        swap_chair_floor: undo upstream's chair/floor swap in the semantic head (rows 1 and
            2 of ``out_sem``), for our ScanNet200 class order.

    Returns:
        ``(ours, dropped)``: our ``{name: tensor}`` and the upstream names dropped by a rule
        of :data:`DROPPED`.

    Raises:
        KeyError: listing every upstream tensor with no mapping (none is allowed).
    """
    out, dropped, unmapped = {}, [], []
    for key, value in state.items():
        if key in DROPPED:
            dropped.append(key)
        elif key.startswith('backbone.'):
            out[key] = value
        elif key.startswith('decoder.'):
            try:
                new = 'decoder.' + _map_decoder(key[len('decoder.'):])
            except KeyError:
                unmapped.append(key)
                continue
            if swap_chair_floor and new.startswith('decoder.sem_head.'):
                a, b = SCANNET200_SEMANTIC_SWAP
                value = value.clone()
                value[[a, b]] = value[[b, a]]
            out[new] = value
        else:
            unmapped.append(key)
    if unmapped:
        raise KeyError(f'{len(unmapped)} upstream tensors have no mapping: '
                       f'{", ".join(sorted(unmapped)[:20])}')
    return out, dropped


CONVERTERS = {'oneformer3d': convert_oneformer3d}
