"""``SpatialSoftmaxKeypoints``: where in the scene the head looks, as coordinates."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS

POS_DIM = 3     # every route's token positions: (B, K, 3) — see the class docstring


@MODELS.register_module()
class SpatialSoftmaxKeypoints(nn.Module):
    """Spatial soft-argmax over a token set: M learned attention maps -> M expected positions.

    ``a = softmax_K(Linear(D, M)(tokens))`` (B, K, M), ``kp_m = sum_k a_km pos_k`` (B, M, 3),
    output ``Linear(3 M, D)(kp)`` (B, D), added to the head's pooled feature. This is the
    spatial softmax of Levine et al. 2016 (End-to-End Training of Deep Visuomotor Policies,
    JMLR 17, Sec. 4.2) and Finn et al. 2016 (Deep Spatial Autoencoders for Visuomotor
    Learning) taken from a feature map to a token set: the head reads *where* the features it
    attends to are, not only *what* they are, so a target that moves with an object can be
    regressed from few layouts. Token positions (``positions``):

    - ``pc`` route: the points' xyz (m, world frame);
    - image routes (packs, student): the grid cell centres ``(u, v, 0)``, ``u, v`` in
      ``[-1, 1]`` (x right, y down in the anchor frame), see :func:`grid_positions`.

    The output layer is zero-initialised, so a head with this slot computes exactly what the
    head without it does until training moves it (tested).

    Args:
        dim: token width D (also the output width).
        num_keypoints: M.

    Raises (forward):
        ValueError: positions that are not (B, K, 3) for tokens (B, K, D), naming both shapes.
    """

    def __init__(self, dim: int = 128, num_keypoints: int = 16):
        super().__init__()
        self.logits = nn.Linear(dim, num_keypoints)
        self.out = nn.Linear(POS_DIM * num_keypoints, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def attention(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, K, D) -> (B, K, M), each map summing to 1 over K."""
        return self.logits(tokens).softmax(dim=1)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if (positions is None or positions.dim() != 3 or positions.shape[-1] != POS_DIM
                or positions.shape[:2] != tokens.shape[:2]):
            got = None if positions is None else tuple(positions.shape)
            raise ValueError(f'SpatialSoftmaxKeypoints: positions (B, K, {POS_DIM}) for tokens '
                             f'{tuple(tokens.shape)} are needed, got {got}')
        kp = torch.einsum('bkm,bkp->bmp', self.attention(tokens), positions.to(tokens.dtype))
        return self.out(kp.flatten(1))


def grid_positions(num_groups: int, grid: int, device=None) -> torch.Tensor:
    """Positions of tokens ordered encoder-major over a G x G grid (the packs'
    ``pooled_tokens`` order, row-major cells): (E·G², 3) float32, ``(u, v, 0)`` with ``u``
    (column) and ``v`` (row) the cell centres in ``[-1, 1]``."""
    c = (torch.arange(grid, dtype=torch.float32, device=device) + 0.5) / grid * 2 - 1
    v, u = torch.meshgrid(c, c, indexing='ij')
    cell = torch.stack([u.flatten(), v.flatten(), torch.zeros_like(u.flatten())], dim=1)
    return cell.repeat(num_groups, 1)
