"""``LiteFusionGate``: a per-point scalar gate mixing 2D and 3D features."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class LiteFusionGate(nn.Module):
    """``g = sigmoid(W2 relu(W1 [f3d, f2d] + b1) + b2)`` per point, ``g`` in [0, 1];
    ``fused = g * f2d + (1 - g) * f3d`` where the point has a valid 2D projection and
    ``fused = f3d`` exactly where it has none.

    The gated sum is the gated multimodal unit (Arevalo et al., "Gated Multimodal Units for
    Information Fusion", ICLR-W 2017: ``h = z h_v + (1 - z) h_t``, ``z = sigmoid(W [x_v,
    x_t])``) with one scalar gate per point from a small MLP (2C x hidden + hidden weights).

    Args:
        channels: C of both inputs.
        hidden: width of the gate MLP (default C / 4).
        init_bias: initial ``b2``; 0 starts at ``g = 0.5``, negative values start closer
            to the 3D stream.

    Inputs ``f3d``, ``f2d`` (N, C) float; ``valid`` (N,) bool. Returns ``fused`` (N, C) and
    ``g`` (N,) (``g`` of invalid points is reported but unused).
    """

    def __init__(self, channels: int, hidden: int = None, init_bias: float = 0.0):
        super().__init__()
        hidden = hidden or max(channels // 4, 8)
        self.mlp = nn.Sequential(nn.Linear(2 * channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, 1))
        nn.init.constant_(self.mlp[2].bias, init_bias)

    def forward(self, f3d: torch.Tensor, f2d: torch.Tensor, valid: torch.Tensor):
        g = torch.sigmoid(self.mlp(torch.cat([f3d, f2d], dim=1)))        # (N, 1)
        fused = torch.where(valid[:, None], g * f2d + (1 - g) * f3d, f3d)
        return fused, g[:, 0]
