"""Frame-by-frame access to a multi-view info, for streaming tools (stream demo, benchmark)."""
import os.path as osp
from typing import Iterator, Optional

import numpy as np
import torch

from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.datasets.transforms import NormalizePointsColor
from .infos_io import load_infos


class SequenceStream:
    """Yield the frames of one sequence info (``create_data.py *_mv``) as the online model
    consumes them: ``dict(points (N, 6) float32 tensor, colours normalised like the training
    pipeline, superpoints (N,) int64, img_path, pose (4, 4), intrinsic (3, 3), frame_id,
    index)``.

    Args:
        infos_path: MV infos ``.pkl``; files are found relative to its folder.
        sample: which sequence of the infos.
        num_frames: frames to yield; more than the sequence has loops it (a stand-in for a
            longer stream of the same place); None = the sequence once.
    """

    def __init__(self, infos_path: str, sample: int = 0, num_frames: Optional[int] = None):
        data = load_infos(infos_path)
        self.root = osp.dirname(osp.abspath(infos_path))
        self.info = data['data_list'][sample]
        if 'lidar_paths' not in self.info:
            raise ValueError(f'{infos_path}: sample {sample} is not a multi-view info '
                             f'(no lidar_paths); make it with create_data.py *_mv')
        self.length = len(self.info['lidar_paths'])
        self.num_frames = num_frames or self.length
        self.normalize = NormalizePointsColor()

    def __len__(self):
        return self.num_frames

    def frame(self, i: int) -> dict:
        info, j = self.info, i % self.length
        pts = read_bin(osp.join(self.root, 'points', info['lidar_paths'][j]), np.float32, 6)
        sp = read_bin(osp.join(self.root, 'super_points', info['super_pts_paths'][j]), np.int64)
        pts = self.normalize(dict(points=pts.copy()))['points']
        img = info['img_paths'][j]
        return dict(points=torch.from_numpy(pts), superpoints=torch.from_numpy(sp),
                    img_path=img if osp.isabs(img) else osp.join(self.root, img),
                    pose=np.asarray(info['poses'][j]), intrinsic=np.asarray(info['intrinsic']),
                    frame_id=info['frame_ids'][j], index=i)

    def __iter__(self) -> Iterator[dict]:
        for i in range(self.num_frames):
            yield self.frame(i)
