"""Hungarian matching of queries to GT instances (scipy ``linear_sum_assignment``)."""
from typing import List, Sequence, Tuple

import torch
from scipy.optimize import linear_sum_assignment

from oneformer3d.registry import TASK_UTILS


def summed_cost(costs: Sequence, pred: dict, gt: dict) -> torch.Tensor:
    """(Q, G) sum of the cost terms, in fp32 with autocast off (mixed-precision training feeds
    fp16 / bf16 logits, whose softmax / sigmoid products lose the ranking); NaN -> 1e6."""
    device = pred['masks'].device
    with torch.autocast(device_type=device.type, enabled=False):
        pred = {k: v.float() for k, v in pred.items()}
        gt = dict(gt, masks=gt['masks'].float())
        cost = sum(c(pred, gt) for c in costs)
    return torch.nan_to_num(cost, nan=1e6, posinf=1e6, neginf=-1e6)


@TASK_UTILS.register_module()
class HungarianMatcher:
    """Sum the configured costs and solve the assignment on the CPU.

    Args:
        costs: list of cost configs (``TASK_UTILS``), e.g. ``QueryClassificationCost``,
            ``MaskBCECost``, ``MaskDiceCost``.

    Costs are computed in fp32 with autocast disabled (mixed-precision training feeds fp16 /
    bf16 logits). ``__call__(pred, gt)`` returns ``(query_idx, gt_idx)`` int64 tensors of equal length
    ``min(Q, G)`` (empty when there is no GT).
    """

    def __init__(self, costs: List[dict]):
        self.costs = [TASK_UTILS.build(c) if isinstance(c, dict) else c for c in costs]

    @torch.no_grad()
    def __call__(self, pred: dict, gt: dict) -> Tuple[torch.Tensor, torch.Tensor]:
        device = pred['masks'].device
        if gt['labels'].numel() == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty
        cost = summed_cost(self.costs, pred, gt)
        q, g = linear_sum_assignment(cost.cpu().numpy())
        return (torch.as_tensor(q, dtype=torch.long, device=device),
                torch.as_tensor(g, dtype=torch.long, device=device))
