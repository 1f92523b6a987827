"""Superpoint pooling (:func:`~oneformer3d.models.layers.pool_rows.pool_rows`, no
torch_scatter): the function, and the plain-mean component of the detector's ``pool`` slot
(OneFormer3D)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from .pool_rows import pool_rows


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
    return pool_rows(feats, point2sp, uniq.shape[0], reduce), point2sp


@MODELS.register_module()
class SuperpointMeanPool(nn.Module):
    """The detector's default ``pool``: the mean of the points' features per superpoint
    (OneFormer3D's ``scatter_mean``); no parameters.

    ``forward(feats (N, C), point2sp (N,) int64 in [0, S), xyz (N, 3) metres, num_sp S)`` ->
    ``(sp_feats (S, C), None)`` (no per-point weights; ``xyz`` unused). The call every
    ``pool`` component takes (``GeoAwarePooling``).
    """

    def __init__(self, in_channels: Optional[int] = None):
        super().__init__()     # in_channels: set by the detector, unused (no parameters)

    def forward(self, feats: torch.Tensor, point2sp: torch.Tensor, xyz: torch.Tensor,
                num_sp: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        return pool_rows(feats, point2sp, num_sp, 'mean'), None
