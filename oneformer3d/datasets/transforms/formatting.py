"""``Pack3DDetInputs``: the last transform; builds ``{inputs, data_samples}`` for the model."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from oneformer3d.registry import TRANSFORMS
from oneformer3d.structures import Det3DDataSample, PointData

POINT_KEYS = ('pts_semantic_mask', 'pts_instance_mask', 'sp_pts_mask')


@TRANSFORMS.register_module()
class Pack3DDetInputs(BaseTransform):
    """Pack ``keys`` into tensors and ``meta_keys`` into the sample's metainfo.

    Args:
        keys: ``'points'`` goes to ``inputs['points']`` (N, C) float32; per-point annotation
            keys (``pts_semantic_mask``, ``pts_instance_mask``, ``sp_pts_mask``) go to
            ``data_samples.gt_pts_seg`` as int64 tensors.
        meta_keys: copied to the sample's metainfo when present (e.g. ``sample_idx``,
            ``lidar_path``, ``aug_matrix``, camera ``intrinsic``/``pose``).
    """

    def __init__(self, keys=('points', 'pts_semantic_mask', 'pts_instance_mask', 'sp_pts_mask'),
                 meta_keys=('sample_idx', 'lidar_path', 'aug_matrix', 'num_pts_feats',
                            'sampled_idx', 'img_path', 'depth_path', 'intrinsic', 'pose',
                            'axis_align_matrix')):
        self.keys = tuple(keys)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        sample = Det3DDataSample()
        inputs = {}
        if 'points' in self.keys:
            inputs['points'] = torch.from_numpy(np.ascontiguousarray(results['points'],
                                                                     dtype=np.float32))
        seg = PointData()
        for key in POINT_KEYS:
            if key in self.keys and key in results:
                seg.set_data({key: torch.from_numpy(np.asarray(results[key], dtype=np.int64))})
        sample.gt_pts_seg = seg
        gt = InstanceData()
        if 'gt_labels_3d' in results:
            gt.labels_3d = torch.from_numpy(np.asarray(results['gt_labels_3d'], dtype=np.int64))
        sample.gt_instances_3d = gt
        if 'eval_ann_info' in results:
            sample.eval_ann_info = results['eval_ann_info']
        meta = {k: results[k] for k in self.meta_keys if k in results}
        if 'lidar_points' in results:
            meta.setdefault('lidar_path', results['lidar_points'].get('lidar_path'))
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self):
        return f'{type(self).__name__}(keys={self.keys})'
