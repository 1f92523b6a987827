"""``ResidualFusionGate``: the 2D features added to the 3D stream through a per-voxel gate."""
import torch

from oneformer3d.registry import MODELS
from .lite_fusion_gate import LiteFusionGate


@MODELS.register_module()
class ResidualFusionGate(LiteFusionGate):
    """``fused = f3d + g * f2d`` where the voxel has a valid 2D projection, ``fused = f3d``
    exactly where it has none; ``g`` is :class:`LiteFusionGate`'s per-voxel gate
    ``sigmoid(W2 relu(W1 [f3d, f2d] + b1) + b2)`` (same arguments, same parameters).

    The residual form of :class:`LiteFusionGate`'s gated sum (Arevalo et al., "Gated
    Multimodal Units for Information Fusion", ICLR-W 2017, with the 3D stream kept whole as
    in residual adapters): with ``f2d = 0`` the output is ``f3d`` for any gate, so a
    BiFusion model whose 2D projection starts at zero (``BiFusionEncoder(identity_init=True)``)
    predicts exactly what its 3D parent predicts before the first step, and the 2D
    contribution grows from there. :class:`LiteFusionGate`'s ``g f2d + (1 - g) f3d`` halves
    the 3D features at ``g = 0.5`` and cannot start as the parent.

    Inputs ``f3d``, ``f2d`` (N, C) float; ``valid`` (N,) bool. Returns ``fused`` (N, C) and
    ``g`` (N,) (``g`` of invalid voxels is reported but unused).
    """

    def forward(self, f3d: torch.Tensor, f2d: torch.Tensor, valid: torch.Tensor):
        g = torch.sigmoid(self.mlp(torch.cat([f3d, f2d], dim=1)))        # (N, 1)
        fused = torch.where(valid[:, None], f3d + g * f2d, f3d)
        return fused, g[:, 0]
