"""ESAM's geometry-aware superpoint pooling (the detector's ``pool`` slot; the call of
:class:`~oneformer3d.models.layers.superpoint_pooling.SuperpointMeanPool`)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from .pool_rows import pool_rows


@MODELS.register_module()
class GeoAwarePooling(nn.Module):
    """ESAM's geometry-aware pooling (Xu et al., "EmbodiedSAM", ICLR 2025, §3.2;
    ``xuxw98/ESAM`` ``oneformer3d/geo_aware_pool.py``).

    For superpoint s with points P_s (positions x_p, metres, the points' frame):

    * ``u_p = (x_p - mean_{P_s} x) / (diam_s + 0.01)``, ``diam_s = max over axes of
      (max_{P_s} x - min_{P_s} x)`` (positions normalised inside the superpoint, as
      Superpoint Transformer's ``scatter_norm``);
    * ``g_p = pts_proj1(u_p)`` (Linear 3→C, LN, ReLU, Linear C→C, LN) and the superpoint's
      geometry ``G_s = max_{P_s} g_p``;
    * ``w_p = 2 · pts_proj2([g_p, G_s])`` (Linear 2C→C, LN, ReLU, Linear C→1 without bias,
      sigmoid), a per-point weight in (0, 2);
    * ``f_s = mean_{P_s}(w_p · f_p) + G_s``.

    Args:
        channel_proj: C; must equal the pooled features' channels (the geometry is added to
            them). ESAM: 96 (Res16UNet34C's output). Leave it out and the detector fills it
            from the part that feeds the pooling (``in_channels``).
        in_channels: the pooled features' channels (set by the detector).

    Returns ``(f (S, C), w (N,))``; ESAM's mixed decoder reuses ``w`` to turn point-level
    attention masks into superpoint ones.

    Raises:
        ValueError: ``channel_proj`` and ``in_channels`` disagree, or ``feats`` has other
            than ``channel_proj`` channels.
    """

    def __init__(self, channel_proj: Optional[int] = None, in_channels: Optional[int] = None):
        super().__init__()
        if channel_proj and in_channels and channel_proj != in_channels:
            raise ValueError(f'GeoAwarePooling(channel_proj={channel_proj}) but the pooled '
                             f'features have {in_channels} channels; leave channel_proj out')
        c = channel_proj or in_channels or 96
        self.channel_proj = c
        self.pts_proj1 = nn.Sequential(nn.Linear(3, c), nn.LayerNorm(c), nn.ReLU(),
                                       nn.Linear(c, c), nn.LayerNorm(c))
        self.pts_proj2 = nn.Sequential(nn.Linear(2 * c, c), nn.LayerNorm(c), nn.ReLU(),
                                       nn.Linear(c, 1, bias=False), nn.Sigmoid())

    @staticmethod
    def normalise(xyz: torch.Tensor, point2sp: torch.Tensor, num_sp: int) -> torch.Tensor:
        """(N, 3) positions relative to their superpoint's mean, divided by its diameter
        (largest axis extent) + 0.01 m."""
        lo = pool_rows(xyz, point2sp, num_sp, 'amin')
        hi = pool_rows(xyz, point2sp, num_sp, 'amax')
        centre = pool_rows(xyz, point2sp, num_sp, 'mean')
        diameter = (hi - lo).max(dim=1).values
        return (xyz - centre[point2sp]) / (diameter[point2sp, None] + 1e-2)

    def forward(self, feats: torch.Tensor, point2sp: torch.Tensor, xyz: torch.Tensor,
                num_sp: int) -> Tuple[torch.Tensor, torch.Tensor]:
        if feats.shape[1] != self.channel_proj:
            raise ValueError(f'GeoAwarePooling(channel_proj={self.channel_proj}) adds its '
                             f'geometry embedding to the pooled features, which have '
                             f'{feats.shape[1]} channels; set channel_proj to that')
        geo = self.pts_proj1(self.normalise(xyz.to(feats.dtype), point2sp, num_sp))
        geo_sp = pool_rows(geo, point2sp, num_sp, 'amax')
        weight = self.pts_proj2(torch.cat([geo, geo_sp[point2sp]], dim=1)).squeeze(1) * 2
        pooled = pool_rows(feats * weight[:, None], point2sp, num_sp, 'mean')
        return pooled + geo_sp, weight
