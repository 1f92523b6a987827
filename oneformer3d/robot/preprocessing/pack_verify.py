"""Checks of a stored feature pack (``tools/verify_saved_features.py ROOT --packs``)."""
import os.path as osp
from typing import List, Tuple

import numpy as np
import torch

from oneformer3d.datasets.preprocessing.feature_verify import cosine_maps
from ..datasets.feature_packs import FeaturePack


def verify_pack(path: str) -> Tuple[dict, List[str]]:
    """Check one feature pack (``.pt`` or ``.zarr``): a float (W, T, H_f, W_f, C) array, W×T
    frame paths with ``step_XXXX`` stems, finite values; statistics, the mean per-cell cosine
    similarity of adjacent frames within windows and of adjacent windows' mean maps.

    Returns:
        ``(row, errors)``.
    """
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
        frame_sims += [cosine_maps(maps[t], maps[t + 1]) for t in range(t_ - 1)]
        window_means.append(maps.mean(0))
    win_sims = [cosine_maps(a, b) for a, b in zip(window_means[:-1], window_means[1:])]
    row = dict(path=path, shape='x'.join(map(str, pack.shape)),
               encoder=pack.meta.get('encoder', '?'),
               mean=float(np.mean([s[0] for s in stats])) if stats else float('nan'),
               std=float(np.mean([s[1] for s in stats])) if stats else float('nan'),
               adjacent_frame_sim=float(np.mean(frame_sims)) if frame_sims else float('nan'),
               adjacent_window_sim=float(np.mean(win_sims)) if win_sims else float('nan'))
    return row, errors
