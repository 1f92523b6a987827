"""Semantic criterion: per-superpoint cross-entropy (OneFormer3D's semantic branch, simplified
to a linear head on superpoint features)."""
from typing import List

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS


@MODELS.register_module()
class SemanticCriterion:
    """Cross-entropy of per-superpoint semantic logits against the superpoint's majority
    train id (``ignore_index`` where the majority is unlabeled)."""

    def __init__(self, ignore_index: int, loss_weight: float = 0.2):
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def __call__(self, sem_logits: List[torch.Tensor], sp_labels: List[torch.Tensor]) -> dict:
        losses = [F.cross_entropy(x, y, ignore_index=self.ignore_index)
                  if (y != self.ignore_index).any() else x.sum() * 0
                  for x, y in zip(sem_logits, sp_labels)]
        return dict(loss_sem=self.loss_weight * torch.stack(losses).mean())
