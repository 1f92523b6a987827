"""Per-point 2D features: project each sample's points into its frame(s) and sample the map."""
from typing import List, Optional, Tuple

import torch

from oneformer3d.geometry import build_uv_index, sample_img_feat


def sample_points_img_feat(points: List[torch.Tensor], img_feats: torch.Tensor, camera: dict,
                           elastic_offsets: Optional[list] = None, mode: str = 'bilinear',
                           min_depth: float = 0.1
                           ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """2D feature of every point, from the collated batch of :class:`Det3DDataPreprocessor`.

    Points are first brought back to the coordinates before augmentation (``aug_matrix``,
    ``elastic_offset``), then projected with ``camera['intrinsic']``/``camera['pose']``
    (camera-to-world) into the image of size ``camera['img_shape']`` and sampled with
    ``camera['stride']`` (:mod:`oneformer3d.geometry.projection`). Multi-view samples (a
    frame axis T) average the features of the views a point is valid in.

    Args:
        points: per sample (N_i, >=3) float, the pipeline's (augmented) coordinates, metres.
        img_feats: (B, C, H_f, W_f) or (B, T, C, H_f, W_f) (a list of per-sample tensors
            also works).
        camera: ``intrinsic`` (B[, T], 3, 3), ``pose`` (B[, T], 4, 4), ``aug_matrix``
            (B, 4, 4), ``img_shape`` (B[, T], 2) ``(H, W)``, ``stride`` (B[, T], 2)
            ``(s_x, s_y)``.
        elastic_offsets: per sample (N_i, 3) or None.
        mode: ``'bilinear'`` | ``'nearest'``.

    Returns:
        per sample ``feats`` (N_i, C) float32 (zeros where no view sees the point) and
        ``valid`` (N_i,) bool.
    """
    feats, valids = [], []
    for b, pts in enumerate(points):
        fm = img_feats[b]
        views = range(fm.shape[0]) if fm.dim() == 4 else [None]
        acc = None
        count = torch.zeros(pts.shape[0], device=pts.device)
        off = None if elastic_offsets is None else elastic_offsets[b]
        for t in views:
            shape = tuple(int(v) for v in _view(camera['img_shape'], b, t, 1))
            uv, ok = build_uv_index(pts[:, :3], _view(camera['intrinsic'], b, t, 2),
                                    _view(camera['pose'], b, t, 2), shape,
                                    min_depth=min_depth, aug_matrix=camera['aug_matrix'][b],
                                    elastic_offset=off)
            stride = tuple(float(s) for s in _view(camera['stride'], b, t, 1))
            f, ok = sample_img_feat(fm if t is None else fm[t], uv, shape, stride, ok, mode)
            acc = f.float() if acc is None else acc + f.float()
            count += ok.float()
        # one view: its features as they are (zero where not valid); several: their mean
        feats.append(acc if len(views) == 1 else acc / count.clamp(min=1)[:, None])
        valids.append(count > 0)
    return feats, valids


def _view(x, b: int, t: Optional[int], frame_dim: int):
    """Sample ``b``'s value for frame ``t`` (a per-sample value shared by all frames, e.g. one
    intrinsic for a whole MV sequence, is used for every frame)."""
    xb = x[b]
    return xb if t is None or xb.dim() == frame_dim else xb[t]
