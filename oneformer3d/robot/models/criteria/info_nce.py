"""Contrastive criteria of the RGB <-> point-cloud alignment study.

* :class:`ClipInfoNCE` — symmetric CLIP loss (Radford et al. 2021, eq. in Fig. 3):
  ``L = ½ [CE(s·A·Bᵀ, I) + CE(s·B·Aᵀ, I)]`` on L2-normalised set embeddings with a learnable
  ``logit_scale`` (``s = exp(logit_scale)``, init ``log(1/0.07)``, clamped at ``ln 100``),
  optionally with extra negatives for B from a :class:`MoCoQueue`.
* :class:`PointPatchInfoNCE` — per-point point↔patch InfoNCE over sampled pairs (PPKT, Liu et
  al. 2021; SLidR, Sautier et al. 2022): ``num_pairs`` (point, pixel-feature) pairs, fixed
  temperature 0.07, the other sampled pairs are the negatives, both directions.
* :func:`normalized_mse` — ``‖â − b̂‖²`` of unit vectors (= 2 − 2 cos), mean.
* :class:`MoCoQueue` — FIFO of past key embeddings (He et al., MoCo, CVPR 2020) and the
  momentum (EMA) update of a key encoder.
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from oneformer3d.registry import MODELS
from .gather import gather_with_grad


def normalized_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (F.normalize(a, dim=-1) - F.normalize(b, dim=-1)).pow(2).sum(-1).mean()


class MoCoQueue(nn.Module):
    """A FIFO queue of ``size`` unit-norm ``dim``-d keys (a buffer: saved in checkpoints).

    ``enqueue(keys (n, dim))`` overwrites the oldest entries (wraps around); ``negatives()``
    returns the filled part. ``momentum_update(online, target, m)`` sets every target
    parameter to ``m·target + (1 − m)·online``.
    """

    def __init__(self, dim: int, size: int = 4096):
        super().__init__()
        self.size = size
        self.register_buffer('queue', torch.zeros(size, dim))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))
        self.register_buffer('filled', torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        keys = F.normalize(keys.detach().float(), dim=-1)[-self.size:]
        n, p = len(keys), int(self.ptr)
        idx = (torch.arange(n, device=keys.device) + p) % self.size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.ptr.fill_((p + n) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + n))

    def negatives(self) -> torch.Tensor:
        return self.queue[:int(self.filled)]

    @staticmethod
    @torch.no_grad()
    def momentum_update(online: nn.Module, target: nn.Module, momentum: float = 0.999):
        for po, pt in zip(online.parameters(), target.parameters()):
            pt.mul_(momentum).add_(po.detach(), alpha=1 - momentum)


@MODELS.register_module()
class ClipInfoNCE(nn.Module):
    """Symmetric InfoNCE with a learnable ``logit_scale`` (see the module docstring).

    Args:
        init_temperature: 0.07 -> ``logit_scale = log(1/0.07)``.
        max_logit_scale: clamp (``ln 100``: scale at most 100).
        queue_size: > 0 adds a :class:`MoCoQueue` of past B embeddings as extra negatives for
            the A->B direction (enqueued after each call in training).
        dim: embedding size (needed for the queue).
        mse_weight: weight of an added :func:`normalized_mse` term (0 = off).

    ``forward(a (N, D), b (N, D)) -> {'loss_nce', ['loss_nmse']}``; row i of a and b are a
    positive pair. Under DDP the other ranks' embeddings are negatives too (gathered with
    gradient, :func:`gather_with_grad`; this rank's labels offset by its first global row,
    open_clip's ``local_loss`` with ``gather_with_grad``), and the queue enqueues the gathered
    keys (every rank's queue stays the same): the mean of the ranks' losses equals one
    process's loss on the whole batch.
    """

    def __init__(self, init_temperature: float = 0.07, max_logit_scale: float = math.log(100),
                 queue_size: int = 0, dim: int = 256, mse_weight: float = 0.0,
                 loss_weight: float = 1.0):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))
        self.max_logit_scale = max_logit_scale
        self.queue = MoCoQueue(dim, queue_size) if queue_size > 0 else None
        self.mse_weight, self.loss_weight = mse_weight, loss_weight

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=self.max_logit_scale).exp()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict:
        a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
        s = self.scale()
        all_a, offset = gather_with_grad(a)
        all_b, _ = gather_with_grad(b)
        target = torch.arange(len(a), device=a.device) + offset
        keys = all_b if self.queue is None else \
            torch.cat([all_b, self.queue.negatives().to(b)])
        loss = 0.5 * (F.cross_entropy(s * a @ keys.T, target)
                      + F.cross_entropy(s * b @ all_a.T, target))
        out = dict(loss_nce=self.loss_weight * loss)
        if self.mse_weight:
            out['loss_nmse'] = self.mse_weight * normalized_mse(a, b)
        if self.queue is not None and self.training:
            self.queue.enqueue(all_b)
        return out


@MODELS.register_module()
class PointPatchInfoNCE(nn.Module):
    """Per-point point↔patch InfoNCE over ``num_pairs`` sampled pairs (module docstring).

    ``forward(points (M, D), patches (M, D), valid (M,) bool or None)``: row i of both is a
    pair (a point and the 2D feature at its pixel); pairs are drawn among valid rows (without
    replacement); returns ``{'loss_point_nce'}``. Under DDP the sampled pairs of every rank
    are negatives too (gathered with gradient; labels offset by rank).
    """

    def __init__(self, num_pairs: int = 4096, temperature: float = 0.07,
                 loss_weight: float = 1.0):
        super().__init__()
        self.num_pairs, self.temperature, self.loss_weight = num_pairs, temperature, loss_weight

    def forward(self, points: torch.Tensor, patches: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> dict:
        idx = torch.arange(len(points), device=points.device)
        if valid is not None:
            idx = idx[valid]
        if len(idx) > self.num_pairs:
            idx = idx[torch.randperm(len(idx), device=idx.device)[:self.num_pairs]]
        p = F.normalize(points[idx].float(), dim=-1)
        q = F.normalize(patches[idx].float(), dim=-1)
        all_p, offset = gather_with_grad(p)
        all_q, _ = gather_with_grad(q)
        target = torch.arange(len(idx), device=p.device) + offset
        loss = 0.5 * (F.cross_entropy(p @ all_q.T / self.temperature, target)
                      + F.cross_entropy(q @ all_p.T / self.temperature, target))
        return dict(loss_point_nce=self.loss_weight * loss)
