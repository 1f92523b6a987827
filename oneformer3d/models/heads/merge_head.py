"""``MergeHead``: query embeddings for associating instances across frames (ESAM)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from oneformer3d.registry import MODELS


@MODELS.register_module()
class MergeHead(nn.Module):
    """MLP on the decoder's final query embeddings -> L2-normalised association embeddings.

    Args:
        in_channels: decoder ``d_model``; hidden / out_channels: MLP sizes.

    ``forward(q (Q, in_channels)) -> (Q, out_channels)``, unit norm (cosine similarity is a dot
    product; :class:`MergeCriterion` and the online merger use it).
    """

    def __init__(self, in_channels: int = 256, hidden: int = 256, out_channels: int = 128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_channels))

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(queries), dim=-1)
