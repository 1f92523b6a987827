"""``TemporalGatedPooling``: learned gated average over the T frames of a window."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class TemporalGatedPooling(nn.Module):
    """``pooled = Σ_t softmax_t(gate(x_t)) · x_t`` (a scalar gate per frame from a linear
    layer, zero-initialised = plain mean at start). ``forward(x (B, T, D)) -> (B, D)``."""

    def __init__(self, dim: int = 256):
        super().__init__()
        self.gate = nn.Linear(dim, 1)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.gate(x).softmax(dim=1)
        return (w * x).sum(1)
