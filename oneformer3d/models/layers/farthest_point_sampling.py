"""Farthest-point sampling of superpoint centroids (queries for the decoder)."""
import torch


def farthest_point_sampling(xyz: torch.Tensor, num: int) -> torch.Tensor:
    """Indices of ``num`` points of ``xyz`` (M, 3) spread by iterative farthest-point
    selection, starting from the point farthest from the centroid; all indices (0..M-1) when
    ``num >= M``. Returns (min(num, M),) int64 on ``xyz``'s device.

    The selected index stays a device tensor through the loop (``index_select``),
    so a CUDA run makes no host sync per iteration (a ``.item()`` / ``int()`` per step would).
    """
    m = xyz.shape[0]
    if num >= m:
        return torch.arange(m, device=xyz.device)
    xyz = xyz.float()
    idx = torch.empty(num, dtype=torch.long, device=xyz.device)
    cur = ((xyz - xyz.mean(0)) ** 2).sum(1).argmax()
    dist = torch.full((m,), float('inf'), device=xyz.device)
    for i in range(num):
        idx[i] = cur
        dist = torch.minimum(dist, ((xyz - xyz.index_select(0, cur.view(1))) ** 2).sum(1))
        cur = dist.argmax()
    return idx
