"""Checks of stored per-frame 2D features (``tools/verify_saved_features.py``)."""
import glob
import os.path as osp
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .feature_io import load_feature_file


def _cosine_maps(a: torch.Tensor, b: torch.Tensor) -> float:
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
        sim = _cosine_maps(f, prev[scene]) if same else float('nan')
        prev[scene] = f
        rows.append(dict(path=osp.relpath(path, root), shape='x'.join(map(str, pix.shape)),
                         dtype=str(pix.dtype).replace('torch.', ''),
                         encoder=meta.get('encoder', '?'), mean=float(f.mean()),
                         std=float(f.std()), min=float(f.min()), max=float(f.max()),
                         norm=float(f.norm(dim=0).mean()), sim_prev=sim))
    return rows, errors


def verify_pack(path: str) -> Tuple[dict, List[str]]:
    """Check one feature pack (``.pt`` or ``.zarr``): a float (W, T, H_f, W_f, C) array, W×T
    frame paths with ``step_XXXX`` stems, finite values; statistics, the mean per-cell cosine
    similarity of adjacent frames within windows and of adjacent windows' mean maps.

    Returns:
        ``(row, errors)``.
    """
    from ..feature_packs import FeaturePack
    try:
        pack = FeaturePack(path)
    except (ValueError, FileNotFoundError, KeyError) as err:
        return {}, [str(err)]
    errors = []
    if len(pack.shape) != 5:
        return {}, [f'{path}: per_frame_features has shape {pack.shape}, expected 5-D']
    w_, t_ = pack.shape[:2]
    if len(pack.frame_paths) != w_ or any(len(w) != t_ for w in pack.frame_paths):
        errors.append(f'{path}: frame_paths are not {w_} lists of {t_}')
    bad_names = [p for w in pack.frame_paths for p in w
                 if not osp.basename(p).startswith('step_')]
    if bad_names:
        errors.append(f'{path}: {len(bad_names)} frame paths without a step_XXXX name, e.g. '
                      f'{bad_names[0]}')
    frame_sims, window_means, stats = [], [], []
    for w in range(w_):
        win = pack.window(w)                                   # (T, H, W, C)
        if not torch.isfinite(win).all():
            errors.append(f'{path}: window {w} has NaN/Inf')
            continue
        stats.append((float(win.mean()), float(win.std())))
        maps = win.permute(0, 3, 1, 2)
        frame_sims += [_cosine_maps(maps[t], maps[t + 1]) for t in range(t_ - 1)]
        window_means.append(maps.mean(0))
    win_sims = [_cosine_maps(a, b) for a, b in zip(window_means[:-1], window_means[1:])]
    row = dict(path=path, shape='x'.join(map(str, pack.shape)),
               encoder=pack.meta.get('encoder', '?'),
               mean=float(np.mean([s[0] for s in stats])) if stats else float('nan'),
               std=float(np.mean([s[1] for s in stats])) if stats else float('nan'),
               adjacent_frame_sim=float(np.mean(frame_sims)) if frame_sims else float('nan'),
               adjacent_window_sim=float(np.mean(win_sims)) if win_sims else float('nan'))
    return row, errors
