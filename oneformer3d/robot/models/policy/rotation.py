"""Rotation representations of the action head (torch, batched, differentiable).

* 6D: the first two columns of the rotation matrix, decoded by Gram-Schmidt (Zhou et al.,
  "On the Continuity of Rotation Representations in Neural Networks", CVPR 2019, Eq. 15-16).
* Quaternions are ``xyzw`` (the RLBench / scipy order), unit length, ``w >= 0`` on output.
"""
import torch
import torch.nn.functional as F


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) rotation matrices (columns b1, b2, b3 = b1 × b2)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) ``xyzw`` (normalised here) -> (..., 3, 3)."""
    x, y, z, w = F.normalize(q, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        dim=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) ``xyzw`` with ``w >= 0`` (Shepperd's method: the largest of
    w, x, y, z is computed from the trace, the others from off-diagonal sums)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    cand = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
                        1 - m00 - m11 + m22], -1)
    k = cand.argmax(-1, keepdim=True)
    s = cand.gather(-1, k).clamp_min(1e-12).sqrt() * 2          # 4·|component|
    r21, r12 = m[..., 2, 1], m[..., 1, 2]
    r02, r20 = m[..., 0, 2], m[..., 2, 0]
    r10, r01 = m[..., 1, 0], m[..., 0, 1]
    qs = [torch.stack([r21 - r12, r02 - r20, r10 - r01, cand[..., 0]], -1),     # w largest
          torch.stack([cand[..., 1], r01 + r10, r02 + r20, r21 - r12], -1),     # x largest
          torch.stack([r01 + r10, cand[..., 2], r12 + r21, r02 - r20], -1),     # y largest
          torch.stack([r02 + r20, r12 + r21, cand[..., 3], r10 - r01], -1)]     # z largest
    q = torch.stack(qs, -2).gather(-2, k[..., None].expand(k.shape[:-1] + (1, 4)))[..., 0, :]
    q = q / s
    q = F.normalize(q, dim=-1)
    return torch.where(q[..., 3:4] < 0, -q, q)


def geodesic_angle(r1: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) × 2 -> (...,) rotation angle of ``r1ᵀ r2`` in radians, [0, π]."""
    tr = (r1.transpose(-1, -2) @ r2).diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((tr - 1) / 2).clamp(-1.0, 1.0))
