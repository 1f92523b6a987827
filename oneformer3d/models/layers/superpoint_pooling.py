"""Superpoint pooling with ``Tensor.scatter_reduce_`` (no torch_scatter)."""
from typing import Tuple

import torch


def superpoint_pool(feats: torch.Tensor, sp_ids: torch.Tensor,
                    reduce: str = 'mean') -> Tuple[torch.Tensor, torch.Tensor]:
    """Pool per-point features into their superpoints.

    Args:
        feats: (N, C) float point features.
        sp_ids: (N,) int64 superpoint id per point (any integers; relabelled contiguously).
        reduce: ``'mean'`` or ``'amax'``.

    Returns:
        ``sp_feats`` (S, C) and ``point2sp`` (N,) int64 in ``[0, S)``.
    """
    uniq, point2sp = torch.unique(sp_ids, return_inverse=True)
    out = torch.zeros(uniq.shape[0], feats.shape[1], dtype=feats.dtype, device=feats.device)
    out = out.scatter_reduce(0, point2sp[:, None].expand_as(feats), feats, reduce=reduce,
                             include_self=False)
    return out, point2sp
