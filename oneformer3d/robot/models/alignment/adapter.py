"""``Adapter``: per-encoder MLP from the encoder's channels to the shared width."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class Adapter(nn.Module):
    """``Linear(C, hidden) -> GELU -> Linear(hidden, D) -> LayerNorm``; ``(…, C) -> (…, D)``.

    Args:
        in_channels: C of the encoder's pack; out_channels: D (default 256); hidden: default D.
    """

    def __init__(self, in_channels: int, out_channels: int = 256, hidden: int = None):
        super().__init__()
        hidden = hidden or out_channels
        self.net = nn.Sequential(nn.Linear(in_channels, hidden), nn.GELU(),
                                 nn.Linear(hidden, out_channels), nn.LayerNorm(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
