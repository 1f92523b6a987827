"""Loading transforms: points and per-point annotations from the ``.bin`` files of the infos."""
import numpy as np
from mmcv.transforms import BaseTransform

from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadPointsFromFile(BaseTransform):
    """Read ``results['lidar_points']['lidar_path']`` into ``results['points']``.

    Args:
        load_dim: values per point in the file (6: x y z r g b).
        use_dim: columns kept, in order.

    Adds ``points`` (N, len(use_dim)) float32 and ``aug_matrix`` (4, 4) identity (augmentations
    compose into it: augmented xyz = ``aug_matrix`` @ original xyz).

    Raises:
        FileNotFoundError / ValueError: naming the file when it is missing or truncated.
    """

    def __init__(self, load_dim: int = 6, use_dim=(0, 1, 2, 3, 4, 5)):
        self.load_dim = load_dim
        self.use_dim = list(use_dim)

    def transform(self, results: dict) -> dict:
        path = results['lidar_points']['lidar_path']
        points = read_bin(path, np.float32, self.load_dim)
        if not np.isfinite(points).all():
            raise ValueError(f'{path}: points contain NaN/Inf')
        results['points'] = points[:, self.use_dim]
        results['aug_matrix'] = np.eye(4)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(load_dim={self.load_dim}, use_dim={self.use_dim})'


@TRANSFORMS.register_module()
class LoadAnnotations3D(BaseTransform):
    """Read per-point instance ids, raw semantic ids and superpoint ids.

    Adds ``pts_instance_mask``, ``pts_semantic_mask`` and ``sp_pts_mask`` (N,) int64 from the
    info's ``pts_instance_mask_path``, ``pts_semantic_mask_path``, ``super_pts_path``.

    Raises:
        FileNotFoundError / ValueError: naming the file when it is missing, truncated, or its
        length differs from the points.
    """

    def __init__(self, with_mask_3d: bool = True, with_seg_3d: bool = True,
                 with_sp_mask_3d: bool = True):
        self.keys = [k for k, on in (('pts_instance_mask', with_mask_3d),
                                     ('pts_semantic_mask', with_seg_3d),
                                     ('sp_pts_mask', with_sp_mask_3d)) if on]

    def transform(self, results: dict) -> dict:
        n = len(results['points']) if 'points' in results else None
        for key in self.keys:
            path = results['super_pts_path' if key == 'sp_pts_mask' else f'{key}_path']
            arr = read_bin(path, np.int64)
            if n is not None and arr.shape[0] != n:
                raise ValueError(f'{path}: {arr.shape[0]} values for {n} points')
            results[key] = arr
        return results
