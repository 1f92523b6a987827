"""``ESAMMergeCriterion``: ESAM's temporal contrast of instance centres across frames.

Xu et al., "EmbodiedSAM", ICLR 2025; ``ScanNetMergeCriterion_Fast`` (``tmp`` term) in
``xuxw98/ESAM`` ``oneformer3d/merge_criterion.py``, as its CA online config trains it
(``tmp=True, p2s=False``). Our own code, written from that definition.
"""
from typing import Callable, List, Tuple

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS
from ..layers.pool_rows import pool_rows


@MODELS.register_module()
class ESAMMergeCriterion:
    """ESAM's temporal merge loss on instance centres of consecutive frames.

    In frame t, the centre c_t(g) of scene instance g is the mean merge-head embedding of
    every query *seeded* inside g (the detector passes all seeded queries, not only the
    matched ones: ESAM's ``query_masks`` rows). For consecutive frames (a, b) in both
    directions, each instance seen in both is a row of a cross-entropy over the instances
    seen in b::

        L(a -> b) = mean_{g in a ∩ b}  -log softmax_{h in b}( c_a(g) · c_b(h) / tau )[g]

        loss = loss_weight * sum_{t=0}^{F-2} [ L(t -> t+1) + L(t+1 -> t) ]

    A pair with no common instance adds 0. ESAM reaches the same sets by zeroing absent
    instances' centres (rows with a zero diagonal dropped, zero logits set to -inf); a
    present instance whose logit is exactly 0 is kept here, dropped there.

    ``__call__(frames)``: ``frames`` = list over t of ``(emb (Q_t, D), scene_ids (Q_t,)
    int64)``, the embeddings of the seeded queries and the scene instance id each lies in
    (what :meth:`select` gives the detector).
    Returns ``{'loss_merge': scalar}`` (ESAM's ``merge_loss_tmp``; the detector averages it
    over the batch as ESAM does); with no instance in two consecutive frames the loss is
    ``0 * sum(emb)`` (every parameter stays in the graph for DDP).

    Args:
        temperature: tau (ESAM 0.07).
        loss_weight: ESAM's ``tmp_weight`` (2.0).
    """

    def __init__(self, temperature: float = 0.07, loss_weight: float = 2.0):
        if temperature <= 0:
            raise ValueError(f'ESAMMergeCriterion temperature must be > 0, got {temperature}')
        self.temperature, self.loss_weight = temperature, loss_weight

    @staticmethod
    def select(emb: List[torch.Tensor], scene_ids: List[torch.Tensor], targets: List[dict],
               match: Callable[[], list]) -> List[tuple]:
        """One frame's ``(emb, scene_ids)`` per sample: every query seeded inside a GT
        instance (``targets[b]['query_masks']`` (G, Q) bool, ESAM's ``query_masks`` rows) with
        that instance's scene id (``scene_ids[b]`` (G,)); ``match`` is not called."""
        out = []
        for e, ids, t in zip(emb, scene_ids, targets):
            g, q = torch.nonzero(t['query_masks'], as_tuple=True)
            out.append((e[q], ids[g]))
        return out

    @staticmethod
    def centres(emb: torch.Tensor, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(U, D) mean embedding per distinct id and the (U,) sorted ids."""
        uniq, inv = torch.unique(ids, return_inverse=True)
        return pool_rows(emb, inv, len(uniq), 'mean'), uniq

    def _term(self, a: tuple, b: tuple) -> torch.Tensor:
        (ca, ida), (cb, idb) = a, b
        pos = ida[:, None] == idb[None, :]                     # (Ua, Ub)
        rows = pos.any(1)
        if not rows.any():
            return ca.sum() * 0.0
        logits = ca[rows] @ cb.T / self.temperature
        return F.cross_entropy(logits, pos[rows].float().argmax(1))

    def __call__(self, frames: List[tuple]) -> dict:
        zero = sum(e.sum() for e, _ in frames) * 0.0
        cent = [self.centres(e, i) if len(i) else None for e, i in frames]
        total = zero
        for a, b in zip(cent[:-1], cent[1:]):
            if a is None or b is None:
                continue
            total = total + self._term(a, b) + self._term(b, a)
        return dict(loss_merge=self.loss_weight * total)
