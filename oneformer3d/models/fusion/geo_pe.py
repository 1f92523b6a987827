"""``GeoPE``: Fourier-feature positional encoding of 3D positions, refined by an MLP."""
import math

import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class GeoPE(nn.Module):
    """Geometric positional encoding added to fused point/voxel features.

    Formula (Fourier features, NeRF, Mildenhall et al. ECCV 2020, Eq. 4, with a length scale):
    for a position ``p`` (metres, the points' frame) and ``k = 0 .. num_freqs-1``,
    ``gamma(p) = [sin(2^k * pi * p / scale), cos(2^k * pi * p / scale)]`` per axis
    (``6 * num_freqs`` values), then ``PE(p) = W2 relu(W1 gamma(p) + b1) + b2``.

    Args:
        out_channels: C, the width of the features it is added to.
        num_freqs: number of octaves (default 6: periods ``scale`` .. ``scale / 32``).
        scale: length in metres of the lowest frequency's half period (default 4 m, a room).
        zero_init: zero-initialise ``W2, b2`` so ``PE = 0`` at start (a fusion model loaded
            from a 3D checkpoint starts from the 3D features); it still trains.

    Input ``xyz`` (N, 3) float, metres; output (N, C) float.
    """

    def __init__(self, out_channels: int, num_freqs: int = 6, scale: float = 4.0,
                 zero_init: bool = True):
        super().__init__()
        self.register_buffer('freqs', (2.0 ** torch.arange(num_freqs)) * math.pi / scale,
                             persistent=False)
        self.mlp = nn.Sequential(nn.Linear(6 * num_freqs, out_channels), nn.ReLU(inplace=True),
                                 nn.Linear(out_channels, out_channels))
        if zero_init:
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        angles = (xyz.float()[:, :, None] * self.freqs).flatten(1)       # (N, 3F)
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))
