"""OneFormer3D's disentangled ("sparse") matching of queries to GT instances.

Kolodiazhnyi et al., "OneFormer3D", CVPR 2024, §3.3; ``SparseMatcher`` in
``filaPro/oneformer3d`` ``oneformer3d/instance_criterion.py`` (used with ``topk=1`` by every
ScanNet / ScanNet200 config of OneFormer3D and of ``xuxw98/ESAM``). Each query is initialised
from one superpoint (its *seed*); a GT instance may only be matched to queries whose seed
superpoint lies inside it, and among those to its ``topk`` cheapest ones. No assignment
problem is solved, so matching costs O(Q·G) instead of Hungarian's O(Q³).
"""
from typing import List, Tuple

import torch

from oneformer3d.registry import TASK_UTILS
from .hungarian_matcher import summed_cost


@TASK_UTILS.register_module()
class SparseMatcher:
    """Match each GT instance to its ``topk`` cheapest queries seeded inside it.

    Args:
        costs: list of cost configs (``TASK_UTILS``), as for ``HungarianMatcher``.
        topk: matches per GT instance (upstream 1).

    ``__call__(pred, gt)`` takes the same inputs as ``HungarianMatcher`` plus
    ``gt['query_masks']``: a (G, Q) bool tensor, True where query q's seed superpoint lies in
    GT instance g (the detector builds it from the sampled query superpoints). With the
    summed (Q, G) cost set to +inf where ``query_masks.T`` is False, GT g takes every query
    whose cost is strictly below the (topk + 1)-th smallest cost of its column — so a GT with
    at most ``topk`` allowed queries takes all of them, one with none takes nothing, and ties
    at the threshold are all dropped (upstream's ``cost < topk(cost, topk + 1).values[-1]``).
    A query seeds inside at most one instance (superpoint targets are disjoint), so it is
    matched at most once.

    Returns ``(query_idx, gt_idx)`` int64 tensors of equal length, ordered by query index.

    Raises:
        KeyError: ``gt`` has no ``query_masks``.
        ValueError: ``query_masks`` is not (G, Q).
    """

    def __init__(self, costs: List[dict], topk: int = 1):
        if topk < 1:
            raise ValueError(f'SparseMatcher topk must be >= 1, got {topk}')
        self.costs = [TASK_UTILS.build(c) if isinstance(c, dict) else c for c in costs]
        self.topk = topk

    @torch.no_grad()
    def __call__(self, pred: dict, gt: dict) -> Tuple[torch.Tensor, torch.Tensor]:
        device = pred['masks'].device
        num_q, num_g = pred['masks'].shape[0], gt['labels'].numel()
        if 'query_masks' not in gt:
            raise KeyError("SparseMatcher needs gt['query_masks'] (G, Q) bool: True where "
                           "query q's seed superpoint lies in GT instance g (the detector "
                           "adds it from the decoder's query_idx)")
        allowed = gt['query_masks']
        if tuple(allowed.shape) != (num_g, num_q):
            raise ValueError(f"query_masks has shape {tuple(allowed.shape)}, expected "
                             f'(G, Q) = ({num_g}, {num_q})')
        if num_g == 0 or num_q == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty
        cost = summed_cost(self.costs, pred, gt)
        cost = torch.where(allowed.T.bool(), cost, torch.full_like(cost, float('inf')))
        k = min(self.topk + 1, num_q)
        thr = cost.topk(k, dim=0, largest=False).values[-1:]       # (1, G)
        if k <= self.topk:      # fewer queries than topk + 1: every allowed query is taken
            thr = torch.full_like(thr, float('inf'))
        q, g = torch.nonzero(cost < thr, as_tuple=True)
        return q, g
