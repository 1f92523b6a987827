"""``MergeHead``: query embeddings for associating instances across frames (ESAM)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from oneformer3d.registry import MODELS


@MODELS.register_module()
class MergeHead(nn.Module):
    """MLP on the decoder's final query embeddings -> L2-normalised association embeddings.

    Args:
        in_channels: decoder ``d_model``; hidden / out_channels: MLP sizes.
        norm: ``None`` (Linear, ReLU, Linear) or ESAM's ``'batch'`` / ``'layer'``: Linear,
            norm, ReLU, Linear, norm (``xuxw98/ESAM`` ``oneformer3d/merge_head.py``, the online
            CA config: ``MergeHead(256, 256)`` with ``d_hidden=512``, ``norm='batch'``).

    ``forward(q (Q, in_channels)) -> (Q, out_channels)``, unit norm (cosine similarity is a dot
    product; :class:`MergeCriterion` and the online merger use it).

    Raises:
        ValueError: an unknown ``norm``.
    """

    def __init__(self, in_channels: int = 256, hidden: int = 256, out_channels: int = 128,
                 norm: Optional[str] = None):
        super().__init__()
        if norm not in (None, 'batch', 'layer'):
            raise ValueError(f"MergeHead norm must be None, 'batch' or 'layer', got {norm!r}")
        if norm is None:
            self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True),
                                     nn.Linear(hidden, out_channels))
        else:
            layer = nn.BatchNorm1d if norm == 'batch' else nn.LayerNorm
            self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), layer(hidden), nn.ReLU(),
                                     nn.Linear(hidden, out_channels), layer(out_channels))

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(queries), dim=-1)
