"""``Pack3DDetInputs``: the last transform; builds ``{inputs, data_samples}`` for the model."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from oneformer3d.registry import TRANSFORMS
from oneformer3d.structures import Det3DDataSample, PointData

POINT_KEYS = ('pts_semantic_mask', 'pts_instance_mask', 'sp_pts_mask')


def _image_tensor(img):
    """uint8 (H, W, 3) array -> (3, H, W) tensor; lists (MV) element-wise; None kept."""
    if isinstance(img, (list, tuple)):
        return tuple(_image_tensor(i) for i in img)
    if img is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1)))


def pack_camera(results: dict) -> dict:
    """The sample's camera as the model reads it (``inputs['camera']``), packed once here.

    Single view: ``pose`` (4, 4) camera-to-world and ``intrinsic`` (3, 3); multi-view:
    ``pose`` (T, 4, 4) from the per-frame ``poses`` and ``intrinsic`` (T, 3, 3) from
    ``intrinsics`` or the shared ``intrinsic``. Plus ``aug_matrix`` (4, 4) (identity when no
    augmentation recorded one), ``img_shape`` ([T,] 2) ``(H, W)`` int64 and ``stride``
    ([T,] 2) ``(s_x, s_y)`` image pixels per feature cell (``clip_stride``; NaN for a frame
    whose map is missing until the data preprocessor computes it); float64 tensors.

    Raises:
        KeyError: naming the sample and the key when a camera entry is missing.
    """
    def need(key):
        value = results.get(key)
        if value is None:
            raise KeyError(f'{key} missing in sample {results.get("sample_idx")} (needed to '
                           f'project points into the 2D features)')
        return np.asarray(value, dtype=np.float64)
    if 'pose' in results:                    # single view
        pose, intr = need('pose'), need('intrinsic')[:3, :3]
    else:                                    # multi-view: one camera per frame
        pose = need('poses')
        intr = (need('intrinsics') if 'intrinsics' in results
                else np.broadcast_to(need('intrinsic')[:3, :3], (len(pose), 3, 3)))[..., :3, :3]
    aug = np.asarray(results.get('aug_matrix', np.eye(4)), dtype=np.float64)
    return dict(intrinsic=torch.from_numpy(np.ascontiguousarray(intr)),
                pose=torch.from_numpy(np.ascontiguousarray(pose)),
                aug_matrix=torch.from_numpy(aug),
                img_shape=torch.from_numpy(need('img_shape')).long(),
                stride=torch.from_numpy(_strides(results.get('clip_stride'))))


def _strides(stride) -> np.ndarray:
    """``clip_stride`` ((s_x, s_y), or one per frame) as float64, NaN where a map is missing."""
    if stride is None:
        return np.full(2, np.nan)
    if len(stride) and (stride[0] is None or np.ndim(stride[0]) > 0):     # per frame
        return np.stack([_strides(s) for s in stride])
    return np.asarray(stride, dtype=np.float64)


def _stack_views(value):
    """MV lists of per-frame tensors -> one (T, ...) tensor when every frame has one (a list
    would be transposed by mmengine's collate); SV values and lists with gaps pass as they are."""
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, torch.Tensor) and v.shape == value[0].shape for v in value):
        return torch.stack(list(value))
    return value


@TRANSFORMS.register_module()
class Pack3DDetInputs(BaseTransform):
    """Pack ``keys`` into tensors and ``meta_keys`` into the sample's metainfo.

    Args:
        keys: ``'points'`` goes to ``inputs['points']`` (N, C) float32; per-point annotation
            keys (``pts_semantic_mask``, ``pts_instance_mask``, ``sp_pts_mask``) go to
            ``data_samples.gt_pts_seg`` as int64 tensors.
        meta_keys: copied to the sample's metainfo when present (e.g. ``sample_idx``,
            ``lidar_path``, ``aug_matrix``, camera ``intrinsic``/``pose``, ``img_shape``,
            ``clip_stride``, ``clip_missing``).

    2D features (after :class:`LoadClipFeature`) always travel when present: ``clip_pix``
    (C, H_f, W_f) / ``clip_global`` (C_g,) tensors or None (lists for MV) go to
    ``inputs``, the camera to ``inputs['camera']`` (:func:`pack_camera`), the image of a frame
    marked for online computation to ``inputs['img']`` as uint8 (3, H, W), and ``elastic_offset`` (N, 3) to ``inputs`` (needed to undo
    augmentations before projecting).
    """

    def __init__(self, keys=('points', 'pts_semantic_mask', 'pts_instance_mask', 'sp_pts_mask'),
                 meta_keys=('sample_idx', 'lidar_path', 'aug_matrix', 'num_pts_feats',
                            'sampled_idx', 'img_path', 'depth_path', 'intrinsic', 'pose',
                            'axis_align_matrix', 'img_shape', 'clip_stride', 'clip_missing',
                            'clip_feat_path', 'depth_intrinsic', 'scene_id', 'frame_id',
                            'poses', 'frame_ids', 'frame_sel', 'num_frames', 'img_paths',
                            'scan_observed_fraction', 'frame_padded', 'depth_paths')):
        self.keys = tuple(keys)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        sample = Det3DDataSample()
        inputs = {}
        if 'points' in self.keys:
            inputs['points'] = torch.from_numpy(np.ascontiguousarray(results['points'],
                                                                     dtype=np.float32))
        for key in ('frame_idx', 'scan_points'):      # MV: frame of each point, eval scan
            if key in results:
                inputs[key] = torch.from_numpy(np.asarray(results[key]))
        if 'clip_pix' in results:     # same keys in every sample (collate needs them)
            inputs['clip_pix'] = _stack_views(results['clip_pix'])
            inputs['clip_global'] = _stack_views(results.get('clip_global'))
            inputs['img'] = _image_tensor(results.get('img'))
            off = results.get('elastic_offset')
            inputs['elastic_offset'] = None if off is None else torch.from_numpy(
                np.asarray(off, dtype=np.float32))
            inputs['camera'] = pack_camera(results)
        seg = PointData()
        for key in POINT_KEYS:
            if key in self.keys and key in results:
                seg.set_data({key: torch.from_numpy(np.asarray(results[key], dtype=np.int64))})
        sample.gt_pts_seg = seg
        gt = InstanceData()
        if 'gt_labels_3d' in results:
            gt.labels_3d = torch.from_numpy(np.asarray(results['gt_labels_3d'], dtype=np.int64))
        if 'gt_instance_ids' in results:
            gt.instance_ids = torch.from_numpy(np.asarray(results['gt_instance_ids'],
                                                          dtype=np.int64))
        if 'gt_bboxes_3d' in results:     # ScanInstanceBoxes: (G, 6) centre, size
            gt.bboxes_3d = torch.from_numpy(np.asarray(results['gt_bboxes_3d'],
                                                       dtype=np.float32))
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
