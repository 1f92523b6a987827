"""``MergeCriterion``: inter-frame contrastive loss on matched instance embeddings (ESAM)."""
from typing import Callable, List

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS


@MODELS.register_module()
class MergeCriterion:
    """For consecutive frames ``t-1, t`` of one sample: queries matched (Hungarian, by the
    instance criterion) to the same scene-level GT instance are positives, the other matched
    queries of the other frame negatives; InfoNCE in both directions,
    ``-log softmax(e_t · e_{t-1} / temperature)`` at the positive.

    ``__call__(frames)``: ``frames`` = list over t of ``(emb (Q_t, D) unit norm, gt_ids (Q_t,)
    int64 scene instance id of each matched query)``. Returns ``{'loss_merge': scalar}``; with
    no instance seen in two consecutive frames the loss is ``0 * sum(emb)`` (keeps every
    parameter in the graph, so DDP never sees an unused parameter).

    Args:
        temperature: softmax temperature; loss_weight: multiplier.
    """

    def __init__(self, temperature: float = 0.1, loss_weight: float = 1.0):
        self.temperature, self.loss_weight = temperature, loss_weight

    @staticmethod
    def select(emb: List[torch.Tensor], scene_ids: List[torch.Tensor], targets: List[dict],
               match: Callable[[], list]) -> List[tuple]:
        """One frame's ``(emb, gt_ids)`` per sample: the queries the instance criterion
        matched (``match()`` returns its ``(query_idx, gt_idx)`` per sample) with the scene
        id of their GT. ``emb`` (Q, D) per sample; ``scene_ids`` (G,) the scene id of each
        GT row of ``targets``."""
        return [(e[q], ids[g]) for e, ids, (q, g) in zip(emb, scene_ids, match())]

    def __call__(self, frames: List[tuple]) -> dict:
        terms = []
        zero = sum(e.sum() for e, _ in frames) * 0.0
        for (e_prev, g_prev), (e_cur, g_cur) in zip(frames[:-1], frames[1:]):
            if len(g_prev) == 0 or len(g_cur) == 0:
                continue
            same = g_cur[:, None] == g_prev[None, :]            # (Q_t, Q_{t-1})
            logits = e_cur @ e_prev.T / self.temperature
            for lg, pos in ((logits, same), (logits.T, same.T)):
                rows = pos.any(1)
                if rows.any():
                    target = pos[rows].float().argmax(1)          # one positive per GT
                    terms.append(F.cross_entropy(lg[rows], target))
        loss = torch.stack(terms).mean() if terms else zero
        return dict(loss_merge=self.loss_weight * (loss + zero))
