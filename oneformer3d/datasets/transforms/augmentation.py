"""3D augmentations. Rigid ones compose their 4x4 into ``results['aug_matrix']`` (augmented
xyz = aug_matrix @ original xyz) so later code can project with the original coordinates;
:class:`ElasticTransform` is not rigid and stores its displacement in ``elastic_offset``."""
import numpy as np
from mmcv.transforms import BaseTransform
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import convolve1d

from oneformer3d.registry import TRANSFORMS


def _apply_rigid(results: dict, matrix: np.ndarray) -> None:
    pts = results['points'].copy()
    xyz = pts[:, :3].astype(np.float64)
    pts[:, :3] = (xyz @ matrix[:3, :3].T + matrix[:3, 3]).astype(pts.dtype)
    results['points'] = pts
    results['aug_matrix'] = matrix @ results.get('aug_matrix', np.eye(4))
    if 'elastic_offset' in results:     # displacements turn/scale with the points
        results['elastic_offset'] = (results['elastic_offset'].astype(np.float64)
                                     @ matrix[:3, :3].T).astype(np.float32)


@TRANSFORMS.register_module()
class GlobalRotScaleTrans(BaseTransform):
    """Rotate about z by U(rot_range) radians, scale by U(scale_ratio_range), translate by
    N(0, translation_std) metres (mmdetection3d's semantics for depth-frame points)."""

    def __init__(self, rot_range=(-np.pi, np.pi), scale_ratio_range=(0.95, 1.05),
                 translation_std=(0.0, 0.0, 0.0)):
        self.rot_range = rot_range
        self.scale_ratio_range = scale_ratio_range
        self.translation_std = np.asarray(translation_std, dtype=np.float64)

    def transform(self, results: dict) -> dict:
        a = np.random.uniform(*self.rot_range)
        s = np.random.uniform(*self.scale_ratio_range)
        m = np.eye(4)
        c, si = np.cos(a), np.sin(a)
        m[:3, :3] = s * np.array([[c, -si, 0], [si, c, 0], [0, 0, 1]])
        m[:3, 3] = np.random.normal(size=3) * self.translation_std
        _apply_rigid(results, m)
        results.update(pcd_rotation_angle=a, pcd_scale_factor=s, pcd_trans=m[:3, 3])
        return results


@TRANSFORMS.register_module()
class RandomFlip3D(BaseTransform):
    """Flip x (``'horizontal'``) and/or y (``'vertical'``) with the given probabilities."""

    def __init__(self, flip_ratio_bev_horizontal: float = 0.5,
                 flip_ratio_bev_vertical: float = 0.5):
        self.p_h = flip_ratio_bev_horizontal
        self.p_v = flip_ratio_bev_vertical

    def transform(self, results: dict) -> dict:
        m = np.eye(4)
        results['pcd_horizontal_flip'] = bool(np.random.rand() < self.p_h)
        results['pcd_vertical_flip'] = bool(np.random.rand() < self.p_v)
        if results['pcd_horizontal_flip']:
            m[0, 0] = -1
        if results['pcd_vertical_flip']:
            m[1, 1] = -1
        _apply_rigid(results, m)
        return results


@TRANSFORMS.register_module()
class ElasticTransform(BaseTransform):
    """Elastic distortion (PointGroup/OneFormer3D): for each (granularity g, magnitude m) a
    random noise grid with cell g voxels is smoothed by three box filters, interpolated at the
    points and added with magnitude m voxels.

    Args:
        gran: grid granularities, voxels.
        mag: magnitudes, voxels.
        voxel_size: metres per voxel.
        p: probability of applying.
    """

    def __init__(self, gran=(6, 20), mag=(40, 160), voxel_size: float = 0.02, p: float = 0.5):
        self.gran, self.mag, self.voxel_size, self.p = gran, mag, voxel_size, p

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.p:
            return results
        pts = results['points'].copy()
        coords = pts[:, :3].astype(np.float64) / self.voxel_size
        offset = coords - coords.min(0)
        total = np.zeros_like(coords)
        for g, m in zip(self.gran, self.mag):
            shape = (offset.max(0) // g).astype(int) + 3
            noise = np.random.randn(3, *shape)
            box = np.ones(3) / 3
            for _ in range(2):
                for axis in (1, 2, 3):
                    noise = convolve1d(noise, box, axis=axis, mode='constant')
            axes = [np.linspace(-1, (s - 2) * g, s) for s in shape]
            interp = [RegularGridInterpolator(axes, n, bounds_error=False, fill_value=0)
                      for n in noise]
            total += np.stack([f(offset + total) for f in interp], axis=1) * m
        pts[:, :3] = ((coords + total) * self.voxel_size).astype(pts.dtype)
        results['points'] = pts
        prev = results.get('elastic_offset', 0.0)
        results['elastic_offset'] = (prev + total * self.voxel_size).astype(np.float32)
        return results
