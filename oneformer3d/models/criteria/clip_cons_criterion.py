"""``ClipConsCriterion``: cross-view consistency of the 2D branch's per-voxel features."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS


def match_voxels(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``a`` and ``b`` ((M_a, 4), (M_b, 4) int ``[batch, i, j, k]``, each unique)
    holding the same key: index tensors ``(ia, ib)`` of equal length."""
    keys = torch.cat([a, b]).long()
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    ka, kb = inverse[:len(a)], inverse[len(a):]
    sorted_kb, order = kb.sort()
    pos = torch.searchsorted(sorted_kb, ka).clamp(max=max(len(kb) - 1, 0))
    hit = sorted_kb[pos] == ka if len(kb) else torch.zeros_like(ka, dtype=torch.bool)
    return hit.nonzero(as_tuple=True)[0], order[pos[hit]]


@MODELS.register_module()
class ClipConsCriterion(torch.nn.Module):
    """Consistency of the 2D-branch features of one place seen from two frames.

    Pairs: for every two consecutive frames ``t, t+1`` of a multi-view sample (they share one
    world frame and one augmentation), the stride-1 voxels present in both frames (same
    sample, same integer voxel key) whose points project validly in both views; each side's
    feature is the BiFusion encoder's per-voxel 2D feature ``f2 = proj2d(F2)``
    (:class:`~oneformer3d.models.fusion.BiFusionEncoder`). Pairs are by voxel, not by GT
    instance (no labels needed; two views of one voxel are one surface patch).

    Loss, ``mode='infonce'`` (InfoNCE, van den Oord et al. 2018; symmetric as CLIP):
    with ``P`` pairs (at most ``max_pairs``, sampled uniformly) of unit vectors ``a_p, b_p``,
    ``L = 1/2 [CE(A B^T / tau, I) + CE(B A^T / tau, I)]`` (the other pairs are the
    negatives); ``mode='cosine'``: ``L = mean_p (1 - a_p . b_p)``. Multiplied by
    ``loss_weight``.

    Args:
        loss_weight: 0 by default (the criterion is then not evaluated by the detector).
        temperature: tau (0.07).
        mode: ``'infonce'`` | ``'cosine'``.
        max_pairs: pairs kept per call (memory of the P x P logits).

    ``forward(frames)`` takes per frame ``(coords (M_t, 4) int, feats (M_t, C) float,
    valid (M_t,) bool)`` and returns ``{'loss_clip_cons': scalar, 'clip_cons_pairs': P}``
    (a zero loss connected to the features when no pair exists).
    """

    def __init__(self, loss_weight: float = 0.0, temperature: float = 0.07,
                 mode: str = 'infonce', max_pairs: int = 2048):
        super().__init__()
        if mode not in ('infonce', 'cosine'):
            raise ValueError(f"ClipConsCriterion mode={mode!r}: 'infonce' or 'cosine'")
        self.loss_weight, self.temperature = loss_weight, temperature
        self.mode, self.max_pairs = mode, max_pairs

    def pairs(self, frames: Sequence[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        left: List[torch.Tensor] = []
        right: List[torch.Tensor] = []
        for (ca, fa, va), (cb, fb, vb) in zip(frames[:-1], frames[1:]):
            ia, ib = match_voxels(ca[va], cb[vb])
            left.append(fa[va][ia])
            right.append(fb[vb][ib])
        if not left:
            c = frames[0][1].shape[1]
            return frames[0][1].new_zeros(0, c), frames[0][1].new_zeros(0, c)
        return torch.cat(left), torch.cat(right)

    def forward(self, frames) -> dict:
        a, b = self.pairs(frames)
        n = a.shape[0]
        if n > self.max_pairs:
            keep = torch.randperm(n, device=a.device)[:self.max_pairs]
            a, b = a[keep], b[keep]
        if a.shape[0] == 0:
            loss = frames[0][1].sum() * 0.0
        else:
            a, b = F.normalize(a.float(), dim=1), F.normalize(b.float(), dim=1)
            if self.mode == 'cosine':
                loss = (1 - (a * b).sum(1)).mean()
            else:
                logits = a @ b.t() / self.temperature
                target = torch.arange(len(a), device=a.device)
                loss = 0.5 * (F.cross_entropy(logits, target) +
                              F.cross_entropy(logits.t(), target))
        return dict(loss_clip_cons=loss * self.loss_weight,
                    clip_cons_pairs=torch.tensor(float(n), device=loss.device))
