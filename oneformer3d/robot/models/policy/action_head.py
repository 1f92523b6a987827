"""``ActionHead``: proprioception-conditioned attention pooling over input tokens -> action."""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from oneformer3d.registry import MODELS
from .rotation import matrix_to_quaternion, quaternion_to_matrix, rotation_6d_to_matrix

PROPRIO_DIM = 8          # xyz (m), quaternion xyzw, gripper open


@MODELS.register_module()
class ActionHead(nn.Module):
    """Next-keyframe action from a set of tokens and the current gripper state.

    ``p = MLP(proprio)`` (B, D) is the query of one multi-head attention over the tokens
    (B, K, D) (none: the pooled feature is zero, the proprioception-only floor);
    ``MLP([pooled, p])`` -> 3 + 6 + 1 numbers: the translation *offset* from the current
    gripper position (m, world), the rotation in the 6D representation (Zhou et al. 2019),
    and the gripper-open logit. Every input route uses this same head.

    Losses (weights ``loss_weights``): L1 on the translation (m), squared chordal
    (Frobenius) distance between the predicted and target rotation matrices (smooth where
    the geodesic angle's gradient is not; the metric reports the geodesic angle), BCE on
    the open state.

    Optional slot ``keypoints`` (:class:`SpatialSoftmaxKeypoints`): the expected positions of
    the tokens under M learned maps, projected and added to the pooled feature (zero-init:
    the head starts as the head without it). It needs the tokens' ``positions`` (B, K, 3).

    Args:
        dim: token / query width D. heads: attention heads. hidden: MLP width.
        keypoints: optional ``SpatialSoftmaxKeypoints`` config (``dim`` filled in).
    """

    def __init__(self, dim: int = 128, heads: int = 4, hidden: int = 256,
                 loss_weights: Optional[Dict[str, float]] = None,
                 keypoints: Optional[dict] = None):
        super().__init__()
        self.keypoints = MODELS.build(dict(keypoints, dim=dim)) if keypoints else None
        self.proprio = nn.Sequential(nn.Linear(PROPRIO_DIM, dim), nn.GELU(),
                                     nn.Linear(dim, dim))
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 3 + 6 + 1))
        self.loss_weights = {**dict(trans=1.0, rot=1.0, open=1.0), **(loss_weights or {})}

    def forward(self, proprio: torch.Tensor, tokens: Optional[torch.Tensor] = None,
                positions: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """proprio (B, 8), tokens (B, K, D) or None, positions (B, K, 3) (the ``keypoints``
        slot's; ignored without it) -> ``{'trans' (B, 3) m world, 'rotmat' (B, 3, 3),
        'open_logit' (B,)}``."""
        q = self.proprio(proprio)
        if tokens is None:
            pooled = torch.zeros_like(q)
        else:
            pooled = self.norm(self.attn(q[:, None], tokens, tokens,
                                         need_weights=False)[0][:, 0])
            if self.keypoints is not None:
                pooled = pooled + self.keypoints(tokens, positions)
        out = self.mlp(torch.cat([pooled, q], dim=-1))
        return dict(trans=proprio[:, :3] + out[:, :3], rotmat=rotation_6d_to_matrix(out[:, 3:9]),
                    open_logit=out[:, 9])

    def loss(self, pred: dict, target_trans: torch.Tensor, target_quat: torch.Tensor,
             target_open: torch.Tensor) -> Dict[str, torch.Tensor]:
        w = self.loss_weights
        rot_t = quaternion_to_matrix(target_quat)
        return dict(
            loss_trans=w['trans'] * F.l1_loss(pred['trans'], target_trans),
            loss_rot=w['rot'] * (pred['rotmat'] - rot_t).square().sum((-1, -2)).mean(),
            loss_open=w['open'] * F.binary_cross_entropy_with_logits(pred['open_logit'],
                                                                     target_open.float()))

    @staticmethod
    def decode(pred: dict) -> Dict[str, torch.Tensor]:
        """``{'trans' (B, 3), 'quat' (B, 4) xyzw w >= 0, 'open_prob' (B,)}``."""
        return dict(trans=pred['trans'], quat=matrix_to_quaternion(pred['rotmat']),
                    open_prob=pred['open_logit'].sigmoid())
