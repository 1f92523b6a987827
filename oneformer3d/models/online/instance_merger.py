"""``OnlineInstanceMerger``: the growing scene-level instance map of an online stream.

ESAM merges each frame's instances into the scene by query-embedding similarity and geometric
overlap. ESAM's reference keeps every frame's full point masks, so memory grows with the
stream (a user ran out of 32 GB at 2,000 frames). Here a scene instance is stored as what
matching and the final mapping need: its **set of occupied voxels** (int64 keys at
``voxel_size``, deduplicated on every merge), an embedding (running mean, unit norm), a score,
a label and a hit count. State therefore grows with the scanned volume and the number of
distinct objects, not with the number of frames; ``max_instances`` caps the count for
adversarial streams (the lowest-scoring instances are evicted and counted).

Per frame (``update``): similarity ``S = emb_weight · cos + (1 − emb_weight) · IoU`` between
the frame's instances and the scene's (IoU of voxel sets), one-to-one assignment with scipy's
``linear_sum_assignment`` on ``−S``, a pair merges when ``S ≥ merge_thr`` and their IoU is at
least ``min_iou`` (no merging across space); unmatched frame instances become new scene
instances; unmatched scene instances are kept as they are.
"""
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from oneformer3d.registry import TASK_UTILS
from .multilevel_memory import voxel_keys


def points_to_voxel_keys(xyz: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """(N, 3) metres -> sorted unique (V,) int64 voxel keys."""
    return torch.unique(voxel_keys(torch.floor(xyz / voxel_size).to(torch.int64)))


def voxel_centres(keys: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """Inverse of :func:`points_to_voxel_keys` at the cell centres, (V, 3) float32 metres."""
    mask = (1 << 21) - 1
    c = torch.stack([(keys >> 42) & mask, (keys >> 21) & mask, keys & mask], 1) - (1 << 20)
    return ((c.float() + 0.5) * voxel_size)


@TASK_UTILS.register_module()
class OnlineInstanceMerger:
    """See the module docstring.

    Args:
        voxel_size: metres per cell of the stored instance geometry.
        emb_weight: weight of the embedding cosine in ``S`` (0 = geometry only).
        merge_thr: minimum ``S`` for a merge; min_iou: minimum voxel IoU for a merge.
        max_instances: cap on scene instances (lowest score evicted); None = no cap.
    """

    def __init__(self, voxel_size: float = 0.05, emb_weight: float = 0.5,
                 merge_thr: float = 0.3, min_iou: float = 0.05,
                 max_instances: Optional[int] = 500):
        self.voxel_size, self.emb_weight = voxel_size, emb_weight
        self.merge_thr, self.min_iou = merge_thr, min_iou
        self.max_instances = max_instances
        self.reset()

    def reset(self):
        self.keys: List[torch.Tensor] = []
        self.emb: Optional[torch.Tensor] = None
        self.scores = torch.zeros(0)
        self.labels = torch.zeros(0, dtype=torch.long)
        self.hits = torch.zeros(0, dtype=torch.long)
        self.stats = dict(frames=0, new=0, merged=0, evicted=0)

    def __len__(self):
        return len(self.keys)

    def state_nbytes(self) -> int:
        n = sum(k.numel() * 8 for k in self.keys)
        if self.emb is not None:
            n += self.emb.numel() * self.emb.element_size()
        return n + self.scores.numel() * 4 + self.labels.numel() * 8 + self.hits.numel() * 8

    def _iou(self, frame_keys: List[torch.Tensor]) -> torch.Tensor:
        """(n_frame, n_scene) IoU of voxel sets."""
        n, m = len(frame_keys), len(self.keys)
        iou = torch.zeros(n, m)
        if n == 0 or m == 0:
            return iou
        all_keys = torch.cat(self.keys)
        owner = torch.repeat_interleave(torch.arange(m),
                                        torch.tensor([len(k) for k in self.keys]))
        scene_sizes = torch.tensor([len(k) for k in self.keys], dtype=torch.float32)
        for i, fk in enumerate(frame_keys):
            inter = torch.bincount(owner[torch.isin(all_keys, fk)], minlength=m).float()
            iou[i] = inter / (len(fk) + scene_sizes - inter).clamp(min=1)
        return iou

    def update(self, keys: List[torch.Tensor], emb: torch.Tensor, scores: torch.Tensor,
               labels: torch.Tensor, cls: Optional[torch.Tensor] = None,
               centres: Optional[torch.Tensor] = None,
               boxes: Optional[torch.Tensor] = None) -> Dict[str, int]:
        """Merge one frame's instances.

        Args:
            keys: per instance sorted unique int64 voxel keys (:func:`points_to_voxel_keys`).
            emb: (n, D) embeddings (normalised here); scores (n,); labels (n,) int64.
            cls, centres, boxes: the instances' class logits, query centres and boxes, which
                the merger interface carries for ``ESAMOnlineMerger``; unused here.

        Returns:
            ``{'new', 'merged', 'kept'}`` counts of this frame.
        """
        self.stats['frames'] += 1
        n = len(keys)
        if n == 0:
            return dict(new=0, merged=0, kept=len(self))
        emb = F.normalize(emb.detach().float().cpu(), dim=-1)
        scores, labels = scores.detach().float().cpu(), labels.detach().cpu()
        matched_frame, matched_scene = [], []
        if len(self):
            iou = self._iou(keys)
            sim = self.emb_weight * (emb @ self.emb.T) + (1 - self.emb_weight) * iou
            rows, cols = linear_sum_assignment(-sim.numpy())
            for r, c in zip(rows, cols):
                if sim[r, c] >= self.merge_thr and iou[r, c] >= self.min_iou:
                    matched_frame.append(r)
                    matched_scene.append(c)
        for r, c in zip(matched_frame, matched_scene):
            self.keys[c] = torch.unique(torch.cat([self.keys[c], keys[r]]))
            h = self.hits[c].float()
            self.emb[c] = F.normalize((self.emb[c] * h + emb[r]) / (h + 1), dim=-1)
            self.scores[c] = torch.maximum(self.scores[c], scores[r])
            self.hits[c] += 1
        new = np.setdiff1d(np.arange(n), np.asarray(matched_frame, dtype=np.int64))
        if len(new):
            idx = torch.from_numpy(new)
            self.keys.extend(keys[i] for i in new.tolist())
            self.emb = emb[idx] if self.emb is None else torch.cat([self.emb, emb[idx]])
            self.scores = torch.cat([self.scores, scores[idx]])
            self.labels = torch.cat([self.labels, labels[idx]])
            self.hits = torch.cat([self.hits, torch.ones(len(new), dtype=torch.long)])
        self._evict()
        self.stats['new'] += len(new)
        self.stats['merged'] += len(matched_frame)
        return dict(new=int(len(new)), merged=len(matched_frame),
                    kept=len(self) - len(new) - len(matched_frame))

    def _evict(self):
        if self.max_instances is None or len(self) <= self.max_instances:
            return
        keep = torch.argsort(self.scores, descending=True)[:self.max_instances]
        keep = torch.sort(keep).values
        self.stats['evicted'] += len(self) - len(keep)
        self._take(keep)

    def _take(self, keep: torch.Tensor):
        """Keep the scene instances of the sorted (k,) index ``keep``."""
        self.keys = [self.keys[i] for i in keep.tolist()]
        self.emb, self.scores = self.emb[keep], self.scores[keep]
        self.labels, self.hits = self.labels[keep], self.hits[keep]

    def to_points(self, xyz: np.ndarray, max_dist: Optional[float] = None) -> dict:
        """Map the scene instances onto points (e.g. the reconstructed scan) by nearest voxel
        centre (scipy ``cKDTree``; a voxel claimed by several instances goes to the highest
        score); points farther than ``max_dist`` (default one voxel) from every centre are
        unassigned.

        Returns:
            ``pts_instance_mask`` (M, N) bool, ``instance_labels`` (M,), ``instance_scores`` (M,).
        """
        from scipy.spatial import cKDTree
        m, n = len(self), len(xyz)
        masks = np.zeros((m, n), dtype=bool)
        if m and n:
            order = torch.argsort(self.scores, descending=True).tolist()
            keys = torch.cat([self.keys[i] for i in order])
            owner = torch.cat([torch.full((len(self.keys[i]),), i) for i in order])
            _, first = np.unique(keys.numpy(), return_index=True)   # best-scoring owner wins
            centres = voxel_centres(keys[first], self.voxel_size).numpy()
            dist, nn = cKDTree(centres).query(xyz, distance_upper_bound=max_dist or
                                              self.voxel_size)
            hit = np.isfinite(dist)
            masks[owner[first].numpy()[nn[hit]], np.flatnonzero(hit)] = True
        return dict(pts_instance_mask=torch.from_numpy(masks), instance_labels=self.labels.clone(),
                    instance_scores=self.scores.clone())
