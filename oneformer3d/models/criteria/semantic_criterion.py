"""Semantic criterion: cross-entropy of the decoder's semantic rows (OneFormer3D's
``ScanNetSemanticCriterion``, filaPro/oneformer3d ``oneformer3d/semantic_criterion.py``)."""
from typing import List

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS


@MODELS.register_module()
class SemanticCriterion:
    """Cross-entropy of semantic logits (one row per query's seed superpoint, or per
    superpoint with ``semantic_source='superpoint'``; the decoder already dropped upstream's
    unused last column) against that superpoint's majority train id (``ignore_index`` where
    the majority is unlabeled), averaged over the samples; ``loss_sem = loss_weight · mean``.
    A sample with no labelled row contributes 0 (upstream: NaN)."""

    def __init__(self, ignore_index: int, loss_weight: float = 0.2):
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def __call__(self, sem_logits: List[torch.Tensor], sp_labels: List[torch.Tensor]) -> dict:
        losses = [F.cross_entropy(x, y, ignore_index=self.ignore_index)
                  if (y != self.ignore_index).any() else x.sum() * 0
                  for x, y in zip(sem_logits, sp_labels)]
        return dict(loss_sem=self.loss_weight * torch.stack(losses).mean())
