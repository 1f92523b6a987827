"""Matching costs between queries and GT instances over superpoints (OneFormer3D/Mask2Former).

Each cost maps ``pred = {'cls': (Q, K+1) logits, 'masks': (Q, S) logits}`` and
``gt = {'labels': (G,) int64, 'masks': (G, S) float 0/1}`` to a (Q, G) cost matrix.
"""
import torch
import torch.nn.functional as F

from oneformer3d.registry import TASK_UTILS


@TASK_UTILS.register_module()
class QueryClassificationCost:
    """``-weight * softmax(cls)[q, label_g]``."""

    def __init__(self, weight: float = 0.5):
        self.weight = weight

    def __call__(self, pred: dict, gt: dict) -> torch.Tensor:
        return -self.weight * pred['cls'].softmax(-1)[:, gt['labels']]


@TASK_UTILS.register_module()
class MaskBCECost:
    """Mean binary cross-entropy of each query's mask logits against each GT mask."""

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def __call__(self, pred: dict, gt: dict) -> torch.Tensor:
        x, t = pred['masks'], gt['masks']
        pos = F.binary_cross_entropy_with_logits(x, torch.ones_like(x), reduction='none')
        neg = F.binary_cross_entropy_with_logits(x, torch.zeros_like(x), reduction='none')
        return self.weight * (pos @ t.T + neg @ (1 - t).T) / x.shape[1]


@TASK_UTILS.register_module()
class MaskDiceCost:
    """``1 - (2 |σ(x) t| + 1) / (|σ(x)| + |t| + 1)`` for every query/GT pair."""

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def __call__(self, pred: dict, gt: dict) -> torch.Tensor:
        s, t = pred['masks'].sigmoid(), gt['masks']
        num = 2 * s @ t.T + 1
        den = s.sum(-1)[:, None] + t.sum(-1)[None, :] + 1
        return self.weight * (1 - num / den)
