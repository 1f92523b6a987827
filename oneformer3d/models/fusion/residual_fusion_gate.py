"""``ResidualFusionGate``: the 2D features added to the 3D stream through a per-voxel gate."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class ResidualFusionGate(nn.Module):
    """``fused = f3d + g * f2d`` where the voxel has a valid 2D projection, ``fused = f3d``
    exactly where it has none; ``g = sigmoid(W2 relu(W1 [f3d, f2d] + b1) + b2)`` per voxel.

    The residual form of :class:`LiteFusionGate`'s gated sum (Arevalo et al., "Gated
    Multimodal Units for Information Fusion", ICLR-W 2017, with the 3D stream kept whole as
    in residual adapters): with ``f2d = 0`` the output is ``f3d`` for any gate, so a
    BiFusion model whose 2D projection starts at zero (``BiFusionEncoder(identity_init=True)``)
    predicts exactly what its 3D parent predicts before the first step, and the 2D
    contribution grows from there. :class:`LiteFusionGate`'s ``g f2d + (1 - g) f3d`` halves
    the 3D features at ``g = 0.5`` and cannot start as the parent.

    Args:
        channels: C of both inputs.
        hidden: width of the gate MLP (default C / 4, at least 8).
        init_bias: initial ``b2`` (0: ``g`` starts near 0.5).

    Inputs ``f3d``, ``f2d`` (N, C) float; ``valid`` (N,) bool. Returns ``fused`` (N, C) and
    ``g`` (N,) (``g`` of invalid voxels is reported but unused).
    """

    def __init__(self, channels: int, hidden: int = None, init_bias: float = 0.0):
        super().__init__()
        hidden = hidden or max(channels // 4, 8)
        self.mlp = nn.Sequential(nn.Linear(2 * channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, 1))
        nn.init.constant_(self.mlp[2].bias, init_bias)

    def forward(self, f3d: torch.Tensor, f2d: torch.Tensor, valid: torch.Tensor):
        g = torch.sigmoid(self.mlp(torch.cat([f3d, f2d], dim=1)))        # (N, 1)
        fused = torch.where(valid[:, None], f3d + g * f2d, f3d)
        return fused, g[:, 0]
