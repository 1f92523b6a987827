"""Checks of stored per-frame 2D features (``tools/verify_saved_features.py``)."""
import glob
import os.path as osp
from typing import List, Tuple

import torch
import torch.nn.functional as F

from .feature_io import load_feature_file


def cosine_maps(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean per-cell cosine similarity of two (C, H, W) maps (resized to ``a`` if needed)."""
    if a.shape != b.shape:
        b = F.interpolate(b[None].float(), size=a.shape[-2:], mode='bilinear',
                          align_corners=False)[0]
    return float(F.cosine_similarity(a.float(), b.float(), dim=0).mean())


def verify_feature_dir(root: str) -> Tuple[List[dict], List[str]]:
    """Check every ``*.pt`` under ``root`` (recursively).

    Per file: readable (weights-only), a float (C, H_f, W_f) ``pix`` (or bare tensor), finite
    values, ``global`` finite and 1-D, the same channel count as the first file; statistics
    (mean, std, min, max, mean L2 norm per cell) and the mean per-cell cosine similarity to the
    previous frame of the same scene (sorted by name; ``nan`` for a scene's first frame).

    Returns:
        ``(rows, errors)``: one dict per file and ``'<path>: <what is wrong>'`` strings.
    """
    files = sorted(glob.glob(osp.join(root, '**', '*.pt'), recursive=True))
    rows, errors = [], []
    if not files:
        return rows, [f'{root}: no .pt feature files']
    channels, prev = None, {}
    for path in files:
        try:
            pix, glob_feat, meta = load_feature_file(path)
        except ValueError as err:
            errors.append(str(err))
            continue
        if glob_feat is not None and glob_feat.dim() != 1:
            errors.append(f'{path}: "global" must be 1-D, got {tuple(glob_feat.shape)}')
        if channels is None:
            channels = pix.shape[0]
        elif pix.shape[0] != channels:
            errors.append(f'{path}: {pix.shape[0]} channels, the first file has {channels}')
            continue
        scene = osp.dirname(path)
        f = pix.float()
        # the neighbour similarity needs equal channel counts; a mismatch is already an error
        # above, and the check goes on with the other files
        same = scene in prev and prev[scene].shape[0] == f.shape[0]
        sim = cosine_maps(f, prev[scene]) if same else float('nan')
        prev[scene] = f
        rows.append(dict(path=osp.relpath(path, root), shape='x'.join(map(str, pix.shape)),
                         dtype=str(pix.dtype).replace('torch.', ''),
                         encoder=meta.get('encoder', '?'), mean=float(f.mean()),
                         std=float(f.std()), min=float(f.min()), max=float(f.max()),
                         norm=float(f.norm(dim=0).mean()), sim_prev=sim))
    return rows, errors

