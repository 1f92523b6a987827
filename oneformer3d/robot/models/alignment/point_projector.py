"""``PointProjector``: MLP from point features (or xyz) to the shared embedding width."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class PointProjector(nn.Module):
    """MLP on the points' teacher features ``pc_feat`` (``source='pc_feat'``) or, for data
    without them, on xyz (``source='xyz'``); the source is fixed per model so every
    parameter is used (DDP).

    ``forward(pc_feat (…, C) or None, xyz (…, 3)) -> (…, D)``. The input is batch-normalised
    over all leading dims (``input_norm=True``): pooled teacher features of neighbouring steps
    share a large common part, which the contrast needs removed.

    Raises:
        ValueError: ``source='pc_feat'`` and the batch has no ``pc_feat``.
    """

    def __init__(self, in_channels: int = 256, out_channels: int = 256, hidden: int = 256,
                 source: str = 'pc_feat', input_norm: bool = True):
        super().__init__()
        if source not in ('pc_feat', 'xyz'):
            raise ValueError(f"PointProjector source must be 'pc_feat' or 'xyz', got {source!r}")
        self.source = source
        c = in_channels if source == 'pc_feat' else 3
        self.norm = nn.BatchNorm1d(c) if input_norm else nn.Identity()
        self.net = nn.Sequential(nn.Linear(in_channels if source == 'pc_feat' else 3, hidden),
                                 nn.GELU(), nn.Linear(hidden, out_channels),
                                 nn.LayerNorm(out_channels))

    def forward(self, pc_feat, xyz: torch.Tensor) -> torch.Tensor:
        if self.source == 'xyz':
            x = xyz.float()
        elif pc_feat is None:
            raise ValueError("PointProjector(source='pc_feat'): the batch has no pc_feat; use "
                             "source='xyz' for point files without teacher features")
        else:
            x = pc_feat.float()
        shape = x.shape
        return self.net(self.norm(x.reshape(-1, shape[-1])).reshape(shape))
