"""Per-point value transforms: class mapping, colour normalisation, point sampling."""
import numpy as np
from mmcv.transforms import BaseTransform

from oneformer3d.registry import TRANSFORMS

PER_POINT_KEYS = ('points', 'pts_instance_mask', 'pts_semantic_mask', 'sp_pts_mask',
                  'elastic_offset', 'frame_idx')


@TRANSFORMS.register_module()
class PointSegClassMapping(BaseTransform):
    """Map raw semantic ids to train ids with the dataset's class table.

    Uses ``results['seg_label_mapping']`` (the table's raw-id lookup, set by the dataset) and
    sets ``pts_semantic_mask`` to train ids in ``[0, num_seg_classes]`` (last = ignore).

    Raises:
        ValueError: naming the semantic mask file when it holds ids the label map cannot
            produce (masks written with another table).
    """

    def transform(self, results: dict) -> dict:
        lut = results['seg_label_mapping']
        sem = results['pts_semantic_mask']
        bad = (sem < 0) | (sem >= len(lut))
        if bad.any():
            raise ValueError(
                f'{results.get("pts_semantic_mask_path", "semantic mask")}: '
                f'{int(bad.sum())} semantic ids outside 0..{len(lut) - 1}, e.g. '
                f'{np.unique(sem[bad])[:5].tolist()} (wrong class table for this data?)')
        results['pts_semantic_mask'] = lut[sem]
        return results


@TRANSFORMS.register_module()
class NormalizePointsColor(BaseTransform):
    """``rgb = (rgb - color_mean) / color_std`` on columns 3:6 (0..255 on disk)."""

    def __init__(self, color_mean=(127.5, 127.5, 127.5), color_std=(127.5, 127.5, 127.5)):
        self.color_mean = np.asarray(color_mean, dtype=np.float32)
        self.color_std = np.asarray(color_std, dtype=np.float32)

    def transform(self, results: dict) -> dict:
        pts = results['points'].copy()
        pts[:, 3:6] = (pts[:, 3:6] - self.color_mean) / self.color_std
        results['points'] = pts
        return results


@TRANSFORMS.register_module()
class PointSample(BaseTransform):
    """Keep at most ``num_points`` points (random subset without replacement), applying the
    same selection to every per-point key; records the indices in ``sampled_idx``."""

    def __init__(self, num_points: int):
        self.num_points = num_points

    def transform(self, results: dict) -> dict:
        n = len(results['points'])
        if n <= self.num_points:
            return results
        idx = np.sort(np.random.choice(n, self.num_points, replace=False))
        for key in PER_POINT_KEYS:
            if key in results:
                results[key] = results[key][idx]
        results['sampled_idx'] = idx
        return results


@TRANSFORMS.register_module()
class PointInstClassMapping(BaseTransform):
    """Keep the GT instances of instance classes and number them ``1..G``.

    Needs train-id semantics (after :class:`PointSegClassMapping`) and
    ``results['inst_label_mapping']`` (semantic train id -> instance train id or -1, set by
    the dataset). An instance is a (instance id > 0, instance class) pair, as in the ScanNet
    protocol. Sets ``pts_instance_mask`` (N,) int64 with 0 = none (also for wall/floor and
    unannotated points), ``gt_labels_3d`` (G,) int64 instance train ids and
    ``gt_instance_ids`` (G,) int64 the raw instance id of each (what
    :class:`ScanInstanceBoxes` finds them by in the scan).
    """

    def transform(self, results: dict) -> dict:
        ins = results['pts_instance_mask']
        cls = results['inst_label_mapping'][results['pts_semantic_mask']]
        valid = (ins > 0) & (cls >= 0)
        span = int(cls.max(initial=0)) + 1
        uniq, inverse = np.unique(ins[valid] * span + cls[valid], return_inverse=True)
        new = np.zeros_like(ins)
        new[valid] = inverse.reshape(-1) + 1
        results['pts_instance_mask'] = new
        results['gt_labels_3d'] = (uniq % span).astype(np.int64)
        results['gt_instance_ids'] = (uniq // span).astype(np.int64)
        return results
