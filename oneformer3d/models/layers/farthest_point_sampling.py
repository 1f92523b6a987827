"""Farthest point sampling (deterministic: starts at the point farthest from the mean)."""
import torch


def farthest_point_sampling(xyz: torch.Tensor, num: int) -> torch.Tensor:
    """Indices of ``num`` points of ``xyz`` (M, 3) spread by iterative farthest-point
    selection; all indices (0..M-1) when ``num >= M``. Returns (min(num, M),) int64."""
    m = xyz.shape[0]
    if num >= m:
        return torch.arange(m, device=xyz.device)
    xyz = xyz.float()
    dist = ((xyz - xyz.mean(0)) ** 2).sum(1)
    idx = torch.empty(num, dtype=torch.long, device=xyz.device)
    cur = int(dist.argmax())
    dist = torch.full((m,), float('inf'), device=xyz.device)
    for i in range(num):
        idx[i] = cur
        dist = torch.minimum(dist, ((xyz - xyz[cur]) ** 2).sum(1))
        cur = int(dist.argmax())
    return idx
