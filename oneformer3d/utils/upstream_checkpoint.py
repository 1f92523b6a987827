"""Key maps from upstream OneFormer3D / ESAM checkpoints to our modules.

An upstream checkpoint (``filaPro/oneformer3d`` ``ScanNet200OneFormer3D``; mmengine format,
weights under ``state_dict``) names its parts ``backbone.*`` (Mask3D's Res16UNet34C: the same
names as ours) and ``decoder.*`` (``ScanNetQueryDecoder``); ESAM's single-view model
(``ScanNet200MixFormer3D``) adds ``pool.*`` and its mixed decoder's point branches, its online
model ``memory.*`` and ``merge_head.*``. Every upstream tensor is either
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
    # ESAM's ScanNetMixQueryDecoder
    (r'^x_pts_mask\.', 'x_pts_mask.'),
    (r'^out_reg\.', 'reg_head.'),
]

# upstream tensors with no counterpart, and why
DROPPED = {
    'backbone.final.kernel': "Res16UNet34C's 1x1 output conv: built but not called in "
                             "upstream's forward (the output is block8's)",
    'backbone.final.bias': 'the same conv',
}
# ESAM's decoder builds input_pts_proj whenever share_attn_mlp=False but calls it only in a
# layer whose cross_attn_mode is 'P'; every ESAM config attends to superpoints only
DROPPED.update({f'decoder.input_pts_proj.{k}': 'ESAM builds it (share_attn_mlp=False) but no '
                'layer of its configs calls it (cross_attn_mode has no "P")'
                for k in ('0.weight', '0.bias', '1.weight', '1.bias')})

# ScanNet200: upstream swaps chair and floor (SwapChairAndFloor) so that the stuff classes
# wall and floor are semantic ids 0 and 1; our class table keeps the benchmark order
# (wall 0, chair 1, floor 2; oneformer3d/metainfo.py). The 198 instance classes are the same
# list in the same order on both sides (chair first).
SCANNET200_SEMANTIC_SWAP = (1, 2)


def _check_all_mapped(unmapped: List[str]) -> None:
    if unmapped:
        raise KeyError(f'{len(unmapped)} upstream tensors have no mapping: '
                       f'{", ".join(sorted(unmapped)[:20])}')


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
    _check_all_mapped(unmapped)
    return out, dropped


def convert_esam(state: Dict[str, torch.Tensor], swap_chair_floor: bool = True
                 ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Map an ``xuxw98/ESAM`` single-view checkpoint (``ScanNet200MixFormer3D``:
    ``backbone.*``, ``pool.*`` ``GeoAwarePooling``, ``decoder.*`` ``ScanNetMixQueryDecoder``)
    onto our ``OneFormer3D`` with ``GeoAwarePooling`` and ``MixQueryDecoder``
    (``configs/esam/ESAM_sv_1xb4_scannet200_CA.py``). ``pool.*`` names are the same on both
    sides; the decoder's follow :func:`convert_oneformer3d` plus ``x_pts_mask`` and
    ``out_reg`` -> ``reg_head``; ESAM swaps chair and floor as OneFormer3D does. For the
    online model use :func:`convert_esam_online`.

    Returns / raises as :func:`convert_oneformer3d`.
    """
    pool = {k: v for k, v in state.items() if k.startswith('pool.')}
    out, dropped = convert_oneformer3d(
        {k: v for k, v in state.items() if not k.startswith('pool.')}, swap_chair_floor)
    out.update(pool)
    return out, dropped


# ESAM's MultilevelMemory indexes its levels by position in vmp_layer (0..3: the encoder
# outputs at strides 2, 4, 8, 16 of Res16UNet34C); ours by stride
_MEMORY_RULE = re.compile(r'^memory\.(conv_d1|conv_d3|conv_convert)\.(\d+)\.(.+)$')
ESAM_MEMORY_STRIDES = (2, 4, 8, 16)


def convert_esam_online(state: Dict[str, torch.Tensor], swap_chair_floor: bool = True
                        ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Map an ``xuxw98/ESAM`` online checkpoint (``ScanNet200MixFormer3D_Online``, the
    single-view model plus ``memory.*`` ``MultilevelMemory`` and ``merge_head.*``) onto ours
    (``configs/esam/ESAM_online_scannet200_CA.py``).

    * ``memory.{conv_d1,conv_d3,conv_convert}.{i}.*`` -> ``memory.<...>.{stride}.*`` with
      stride ``ESAM_MEMORY_STRIDES[i]``; the sub-module layout (conv, BN, ReLU) is the same.
      ESAM's conversion conv is a ``MinkowskiConvolutionTranspose`` with a 1-voxel kernel and
      stride 1, ours a ``MinkowskiConvolution`` of the same kernel shape (3C, C): both compute
      ``x @ kernel`` on the same voxels (checked in ``tests/test_convert_checkpoint.py``).
    * ``merge_head.net.*`` -> ``merge_head.mlp.*`` (Linear, BN, ReLU, Linear, BN).
    * the rest as :func:`convert_esam`.

    Returns / raises as :func:`convert_oneformer3d`.
    """
    online, rest, unmapped = {}, {}, []
    for key, value in state.items():
        if key.startswith('memory.'):
            m = _MEMORY_RULE.match(key)
            if m is None or int(m.group(2)) >= len(ESAM_MEMORY_STRIDES):
                unmapped.append(key)
                continue
            stride = ESAM_MEMORY_STRIDES[int(m.group(2))]
            online[f'memory.{m.group(1)}.{stride}.{m.group(3)}'] = value
        elif key.startswith('merge_head.net.'):
            online['merge_head.mlp.' + key[len('merge_head.net.'):]] = value
        elif key.startswith('merge_head.'):
            unmapped.append(key)
        else:
            rest[key] = value
    _check_all_mapped(unmapped)
    out, dropped = convert_esam(rest, swap_chair_floor)
    out.update(online)
    return out, dropped


CONVERTERS = {'oneformer3d': convert_oneformer3d, 'esam': convert_esam,
              'esam_online': convert_esam_online}
