"""Negatives from every rank for the contrastive criteria under DDP."""
from typing import Tuple

import torch
import torch.distributed as dist


def world_info() -> Tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """Concatenate ``x`` (n_r, ...) of every rank in rank order, differentiably (the backward
    sums each rank's gradient into the rank that owns the rows — open_clip's
    ``gather_with_grad`` / ULIP; ``torch.distributed.nn.functional.all_gather``). Ranks may
    hold different row counts (padded for the collective, unpadded after).

    Returns:
        ``(all rows (Σ n_r, ...), offset of this rank's first row)``; a single process returns
        ``(x, 0)``.
    """
    rank, world = world_info()
    if world == 1:
        return x, 0
    from torch.distributed.nn.functional import all_gather
    n = torch.tensor([len(x)], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    pad = max(sizes) - len(x)
    padded = torch.cat([x, x.new_zeros((pad,) + x.shape[1:])]) if pad else x
    parts = all_gather(padded)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)]), sum(sizes[:rank])
