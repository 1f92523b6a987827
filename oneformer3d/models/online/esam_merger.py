"""``ESAMOnlineMerger``: ESAM's online instance merging on our compact scene state.

Xu et al., "EmbodiedSAM", ICLR 2025, §3.4; ``OnlineMerge`` of ``xuxw98/ESAM``
``oneformer3d/instance_merge.py`` (``merge_type='count'``, the online configs). For the scene's
instances (rows) and the frame's (columns)::

    S = w0 · <e_scene, e_frame> + w1 · cos(c_scene, c_frame) + w2 · G

with ``e`` the merge-head embeddings, ``c`` the class logits of the instance's query (ESAM
calls them ``sem_preds`` but passes the decoder's ``cls_preds``) and ``G`` the axis-aligned box
IoU (``use_bbox``; weights 0.33 each, threshold 0.55) or ``1 / (|x_scene - x_frame| + 1e-6)``
between the queries' seed-superpoint centres (weights 0.4 / 0.4 / 0.2, threshold 0.8).
Entries not above the threshold are set to 0, scipy's ``linear_sum_assignment`` maximises
``S``, and a pair with ``S > 0`` merges. A merged scene instance's score, embedding, logits
and centre / box become running means weighted by its merge count (``(v · n + v') / (n + 1)``
with ``n`` the count after this merge, as ESAM); its label stays. Unmatched frame instances
become new scene instances; the result keeps the ``topk_insts`` best-scoring ones.

No voxel overlap is needed to merge: two halves of a wall seen in different frames merge when
their embeddings and logits agree (``OnlineInstanceMerger`` gates on overlap and keeps them
apart). The geometry of a scene instance is stored as in ``OnlineInstanceMerger`` (a set of
voxel keys, not ESAM's growing per-frame point masks).
"""
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from oneformer3d.registry import TASK_UTILS
from .instance_merger import OnlineInstanceMerger


def box_iou_3d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, m) IoU of axis-aligned boxes given as (x1, y1, z1, x2, y2, z2), metres."""
    lo = torch.maximum(a[:, None, :3], b[None, :, :3])
    hi = torch.minimum(a[:, None, 3:], b[None, :, 3:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    vol_a = (a[:, 3:] - a[:, :3]).clamp(min=0).prod(-1)
    vol_b = (b[:, 3:] - b[:, :3]).clamp(min=0).prod(-1)
    return inter / (vol_a[:, None] + vol_b[None, :] - inter).clamp(min=1e-12)


@TASK_UTILS.register_module()
class ESAMOnlineMerger(OnlineInstanceMerger):
    """See the module docstring.

    Args:
        use_bbox: geometry term from boxes (``boxes`` passed to :meth:`update`) instead of
            centres.
        weights, threshold: ``(w0, w1, w2)`` and the threshold; None = ESAM's for the mode.
        topk_insts: instances kept in the result (ESAM ``inscat_topk_insts`` 100).
        voxel_size: metres per cell of the stored instance geometry.
        max_instances: cap on the stored scene instances (None: ESAM keeps all).

    Raises:
        ValueError: ``update`` without the ``cls`` logits, or without ``boxes`` when
            ``use_bbox`` (or without ``centres`` otherwise).
    """

    def __init__(self, use_bbox: bool = False, weights: Optional[List[float]] = None,
                 threshold: Optional[float] = None, topk_insts: int = 100,
                 voxel_size: float = 0.05, max_instances: Optional[int] = None):
        default = ([0.33, 0.33, 0.33], 0.55) if use_bbox else ([0.4, 0.4, 0.2], 0.8)
        self.use_bbox = use_bbox
        self.weights = list(weights if weights is not None else default[0])
        self.threshold = float(threshold if threshold is not None else default[1])
        self.topk_insts = topk_insts
        super().__init__(voxel_size=voxel_size, max_instances=max_instances)

    def reset(self):
        super().reset()
        self.cls: Optional[torch.Tensor] = None
        self.geom: Optional[torch.Tensor] = None
        self.counts = torch.zeros(0, dtype=torch.long)

    def similarity(self, emb, cls, geom) -> torch.Tensor:
        """(n_scene, n_frame) ``S`` before thresholding."""
        w0, w1, w2 = self.weights
        g = (box_iou_3d(self.geom, geom) if self.use_bbox
             else 1 / (torch.cdist(self.geom, geom) + 1e-6))
        return (w0 * self.emb @ emb.T
                + w1 * F.cosine_similarity(self.cls[:, None], cls[None], dim=-1) + w2 * g)

    def update(self, keys: List[torch.Tensor], emb: torch.Tensor, scores: torch.Tensor,
               labels: torch.Tensor, cls: Optional[torch.Tensor] = None,
               centres: Optional[torch.Tensor] = None,
               boxes: Optional[torch.Tensor] = None) -> Dict[str, int]:
        """Merge one frame's n instances: voxel ``keys`` (per instance), ``emb`` (n, D),
        ``scores`` (n,), ``labels`` (n,), ``cls`` (n, K + 1) logits, ``centres`` (n, 3)
        metres or ``boxes`` (n, 6) ``(x1, y1, z1, x2, y2, z2)``. Returns ``{'new', 'merged',
        'kept'}``."""
        self.stats['frames'] += 1
        n = len(keys)
        if n == 0:
            return dict(new=0, merged=0, kept=len(self))
        geom = boxes if self.use_bbox else centres
        if cls is None or geom is None:
            need = 'boxes' if self.use_bbox else 'centres'
            raise ValueError(f'ESAMOnlineMerger.update needs the class logits cls and {need}')
        emb, cls, geom = (t.detach().float().cpu() for t in (emb, cls, geom))
        scores, labels = scores.detach().float().cpu(), labels.detach().cpu()
        rows, cols = [], []
        if len(self):
            s = self.similarity(emb, cls, geom)
            s = torch.where(s > self.threshold, s, torch.zeros_like(s))
            r, c = linear_sum_assignment(-s.numpy())
            ok = s[r, c] > 0
            rows, cols = r[ok.numpy()].tolist(), c[ok.numpy()].tolist()
        if rows:
            r, c = torch.tensor(rows), torch.tensor(cols)
            self.counts[r] += 1
            n_ = self.counts[r].float()[:, None]
            for name, new in (('emb', emb), ('cls', cls), ('geom', geom)):
                old = getattr(self, name)
                old[r] = (old[r] * n_ + new[c]) / (n_ + 1)
            self.scores[r] = (self.scores[r] * n_[:, 0] + scores[c]) / (n_[:, 0] + 1)
            self.hits[r] += 1
            for i, j in zip(rows, cols):
                self.keys[i] = torch.unique(torch.cat([self.keys[i], keys[j]]))
        new = np.setdiff1d(np.arange(n), np.asarray(cols, dtype=np.int64))
        if len(new):
            idx = torch.from_numpy(new)
            self.keys.extend(keys[i] for i in new.tolist())
            for name, value in (('emb', emb), ('cls', cls), ('geom', geom)):
                old = getattr(self, name)
                setattr(self, name, value[idx] if old is None else torch.cat([old, value[idx]]))
            self.scores = torch.cat([self.scores, scores[idx]])
            self.labels = torch.cat([self.labels, labels[idx]])
            self.hits = torch.cat([self.hits, torch.ones(len(new), dtype=torch.long)])
            self.counts = torch.cat([self.counts, torch.zeros(len(new), dtype=torch.long)])
        self._evict()
        self.stats['new'] += len(new)
        self.stats['merged'] += len(rows)
        return dict(new=int(len(new)), merged=len(rows),
                    kept=len(self) - len(new) - len(rows))

    def _take(self, keep: torch.Tensor):
        super()._take(keep)
        self.cls, self.geom, self.counts = self.cls[keep], self.geom[keep], self.counts[keep]

    def state_nbytes(self) -> int:
        extra = sum(t.numel() * t.element_size() for t in (self.cls, self.geom)
                    if t is not None)
        return super().state_nbytes() + extra + self.counts.numel() * 8

    def to_points(self, xyz: np.ndarray, max_dist: Optional[float] = None) -> dict:
        """As :meth:`OnlineInstanceMerger.to_points`, keeping the ``topk_insts`` best scores
        (ESAM's ``inscat_topk_insts``)."""
        out = super().to_points(xyz, max_dist)
        if len(out['instance_scores']) > self.topk_insts:
            keep = torch.topk(out['instance_scores'], self.topk_insts).indices.sort().values
            out = {k: v[keep] for k, v in out.items()}
        return out
