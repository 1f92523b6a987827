"""``pool_rows``: the one point → group reduction of the project (points → voxels in the data
preprocessor, points → superpoints in the pooling layers, projected 2D features → voxels in
the fusion encoder and the DINO pyramid, frames → memory voxels in the online memory).

It is torch's ``Tensor.scatter_reduce`` (``include_self=False``) behind one signature, so no
site writes its own ``index_add_`` / ``index_reduce_`` loop and every site treats empty groups
the same way (no torch_scatter dependency).
"""
from typing import Optional, Tuple, Union

import torch


def pool_rows(src: torch.Tensor, index: torch.Tensor, size: int, reduce: str = 'mean',
              valid: Optional[torch.Tensor] = None, return_count: bool = False
              ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Reduce the rows of ``src`` into ``size`` groups.

    Args:
        src: (N, C) or (N,) rows (any dtype ``scatter_reduce`` takes: float, int).
        index: (N,) int64 group of each row, in ``[0, size)``.
        size: number of groups.
        reduce: ``'mean'``, ``'sum'``, ``'amax'``, ``'amin'`` or ``'prod'``.
        valid: optional (N,) bool; rows where it is False take no part (e.g. points without
            a valid projection).
        return_count: also return the (size,) int64 number of valid rows per group.

    Returns:
        (size, C) or (size,) in ``src``'s dtype; a group without a (valid) row is 0.
        With ``return_count``: ``(pooled, count)``.

    Raises:
        ValueError: ``index`` and ``src`` disagree in length.
    """
    if index.shape[0] != src.shape[0]:
        raise ValueError(f'pool_rows: {src.shape[0]} rows but {index.shape[0]} indices')
    rows = size
    if valid is not None:
        # invalid rows go to one extra group that is dropped (no boolean gather of src)
        index, rows = torch.where(valid, index, size), size + 1
    out = src.new_zeros((rows,) + tuple(src.shape[1:]))
    idx = index if src.dim() == 1 else index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
    out = out.scatter_reduce(0, idx, src, reduce=reduce, include_self=False)[:size]
    if not return_count:
        return out
    count = torch.zeros(rows, dtype=torch.long, device=index.device)
    count.index_add_(0, index, torch.ones_like(index))
    return out, count[:size]
