"""``Det3DDataPreprocessor``: collate point clouds and voxelize them on their own device."""
from typing import List

import torch
from mmengine.model import BaseDataPreprocessor

from oneformer3d.registry import MODELS


def voxelize(points: List[torch.Tensor], voxel_size: float, feat_slice=slice(3, None)) -> dict:
    """Sparse voxelization of a batch (runs on the points' device; no ``.cuda()``).

    Args:
        points: per sample (N_i, C) float; columns 0:3 are xyz in metres.
        voxel_size: metres.
        feat_slice: point columns averaged into voxel features (default: colours).

    Returns:
        ``coordinates`` (M, 4) int32 ``[batch, i, j, k]`` (unique), ``features`` (M, F) float,
        ``point2voxel`` list of (N_i,) int64 indices into the M voxels.
    """
    device = points[0].device
    keys, feats = [], []
    for b, pts in enumerate(points):
        ijk = torch.floor(pts[:, :3] / voxel_size).to(torch.int32)
        keys.append(torch.cat([torch.full_like(ijk[:, :1], b), ijk], dim=1))
        feats.append(pts[:, feat_slice])
    keys = torch.cat(keys)
    feats = torch.cat(feats)
    coords, inverse = torch.unique(keys, dim=0, return_inverse=True)
    vfeat = torch.zeros(coords.shape[0], feats.shape[1], dtype=feats.dtype, device=device)
    vfeat.scatter_reduce_(0, inverse[:, None].expand_as(feats), feats, reduce='mean',
                          include_self=False)
    sizes = [len(p) for p in points]
    return dict(coordinates=coords.to(torch.int32), features=vfeat,
                point2voxel=list(torch.split(inverse, sizes)))


@MODELS.register_module()
class Det3DDataPreprocessor(BaseDataPreprocessor):
    """Move a pseudo-collated batch to the model's device and voxelize it.

    Input ``data``: ``{'inputs': {'points': [ (N_i, C) ]}, 'data_samples': [...]}``.
    Output: ``{'inputs': {'points': [...], 'voxels': voxelize(...)}, 'data_samples': [...]}``.

    Args:
        voxel_size: metres (ESAM/OneFormer3D ScanNet: 0.02).
        feat_start: first point column used as voxel feature (3 = rgb after xyz).
    """

    def __init__(self, voxel_size: float = 0.02, feat_start: int = 3):
        super().__init__()
        self.voxel_size = voxel_size
        self.feat_start = feat_start

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        points = data['inputs']['points']
        inputs = dict(points=points,
                      voxels=voxelize(points, self.voxel_size, slice(self.feat_start, None)))
        return dict(inputs=inputs, data_samples=data['data_samples'])
