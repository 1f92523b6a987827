"""Points -> pixels -> 2D features: batched, torch, differentiable in the feature map.

The conventions are those of :mod:`oneformer3d.geometry.camera` (pose camera-to-world, integer
pixel coordinate = pixel centre). A feature map of stride ``s`` (pixels of the image per
feature cell) has its cell ``j`` centred on image pixel ``(j + 0.5) * s - 0.5``, so an image
pixel coordinate ``u`` lands at feature coordinate

    u_f = (u + 0.5) / s - 0.5                                              (1)

and :func:`sample_img_feat` samples there bilinearly: the four cells around ``(u_f, v_f)``
gathered as rows of the channels-last map and weighted by an ``embedding_bag``, which gives
the values of ``grid_sample`` with ``align_corners=True``, ``g = 2 u_f / (W_f - 1) - 1`` and
``padding_mode='border'`` (for the half cell between the outermost centres and the image
edge); on CPU its forward + backward is several times faster than ``grid_sample``'s for a
256-channel map and 20k points. mmdetection3d's ``point_sample``
normalises ``u / W * 2 - 1`` with ``align_corners=False``, i.e. ``u_f = u / s - 0.5``: half a
*pixel* off everywhere and ~1 px off after its rescaling; we do not follow it.

Occlusion tests compare the point's camera depth ``z`` with the depth map at its pixel:
``'abs'``: visible when ``|z - d| <= thr`` metres (BPNet 0.05, Open3DIS 0.1, OpenMask3D 0.2);
``'rel'``: visible when ``|z - d| <= thr * d`` (OpenScene 0.25).
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = Union[np.ndarray, torch.Tensor]


def _tensor(x: ArrayLike, dtype=torch.float32, device=None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device or x.device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def _batched(x: torch.Tensor, ndim: int, batch: int, name: str) -> torch.Tensor:
    if x.dim() == ndim:
        x = x.unsqueeze(0).expand(batch, *x.shape)
    if x.dim() != ndim + 1 or x.shape[0] != batch:
        raise ValueError(f'{name}: expected shape (B, ...) with B={batch} or unbatched, '
                         f'got {tuple(x.shape)}')
    return x


def undo_augmentation(xyz: ArrayLike, aug_matrix: Optional[ArrayLike] = None,
                      elastic_offset: Optional[ArrayLike] = None) -> torch.Tensor:
    """Coordinates before the pipeline's 3D augmentations.

    The rigid augmentations compose ``aug_matrix`` (augmented = ``aug_matrix`` @ original);
    :class:`~oneformer3d.datasets.transforms.ElasticTransform` adds ``elastic_offset`` in the
    frame it was applied in and later rigid steps transform that offset with the points, so
    ``original = inv(aug_matrix) @ (augmented - elastic_offset)``.

    Args:
        xyz: (N, 3) or (B, N, 3) augmented coordinates, metres.
        aug_matrix: (4, 4) or (B, 4, 4); None = identity.
        elastic_offset: (N, 3) or (B, N, 3); None = no elastic distortion.

    Returns:
        float32 tensor of the shape of ``xyz``.
    """
    out = _tensor(xyz)[..., :3]
    if elastic_offset is not None:
        out = out - _tensor(elastic_offset, device=out.device)
    if aug_matrix is not None:
        inv = torch.linalg.inv(_tensor(aug_matrix, torch.float64, out.device)).to(out.dtype)
        out = out @ inv[..., :3, :3].transpose(-1, -2) + inv[..., None, :3, 3]
    return out


def build_uv_index(points: ArrayLike, intrinsic: ArrayLike, pose: ArrayLike,
                   image_size: Sequence[int], depth: Optional[ArrayLike] = None,
                   depth_intrinsic: Optional[ArrayLike] = None, min_depth: float = 0.1,
                   border: int = 0, occlusion_thr: float = 0.1, occlusion_mode: str = 'abs',
                   aug_matrix: Optional[ArrayLike] = None,
                   elastic_offset: Optional[ArrayLike] = None
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates of world points in a posed image, with a validity mask.

    world -> camera with ``inv(pose)`` -> pixel with ``intrinsic``; ESAM's centred single-view
    frames need nothing special as long as the points and ``pose`` are centred together (our
    SV infos store ``pose = T(-centre) @ axis_align @ pose_raw``).

    Args:
        points: (N, >=3) or (B, N, >=3) world coordinates, metres (float tensor or array).
        intrinsic: (3, 3)/(4, 4) or (B, 3|4, 3|4) of the image of size ``image_size``.
        pose: (4, 4) or (B, 4, 4) camera-to-world.
        image_size: ``(H, W)`` of the image the intrinsic belongs to, pixels.
        depth: optional (H_d, W_d) or (B, H_d, W_d) depth map, metres, 0 = invalid; enables
            the occlusion test (points on invalid depth are not valid).
        depth_intrinsic: intrinsic of ``depth``; default: the depth map is registered with the
            image (ScanNet colour 1296x968 / depth 640x480) and the image intrinsic is rescaled
            by ``(W_d / W, H_d / H)`` with the pixel-centre rule.
        min_depth: points with camera ``z <= min_depth`` metres are not valid.
        border: pixels at the image edge excluded from the valid area.
        occlusion_thr / occlusion_mode: see the module docstring (``'abs'`` | ``'rel'``).
        aug_matrix / elastic_offset: undo the pipeline's 3D augmentations first
            (:func:`undo_augmentation`).

    Returns:
        ``uv`` float32 (..., N, 2) pixel coordinates (u = column, v = row) in the image and
        ``valid`` bool (..., N); leading dims as ``points``.

    Raises:
        ValueError: unknown ``occlusion_mode`` or inconsistent batch shapes.
    """
    if occlusion_mode not in ('abs', 'rel'):
        raise ValueError(f"occlusion_mode must be 'abs' or 'rel', got {occlusion_mode!r}")
    xyz = undo_augmentation(points, aug_matrix, elastic_offset)
    unbatched = xyz.dim() == 2
    if unbatched:
        xyz = xyz.unsqueeze(0)
    b, dev = xyz.shape[0], xyz.device
    k = _batched(_tensor(intrinsic, torch.float64, dev), 2, b, 'intrinsic')[:, :3, :3]
    world2cam = torch.linalg.inv(_batched(_tensor(pose, torch.float64, dev), 2, b, 'pose'))
    w2c = world2cam.to(xyz.dtype)
    cam = xyz @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]
    z = cam[..., 2]
    safe_z = torch.where(z.abs() > 1e-9, z, torch.full_like(z, 1e-9))
    kf = k.to(xyz.dtype)
    u = (kf[:, None, 0, 0] * cam[..., 0] + kf[:, None, 0, 1] * cam[..., 1]) / safe_z \
        + kf[:, None, 0, 2]
    v = kf[:, None, 1, 1] * cam[..., 1] / safe_z + kf[:, None, 1, 2]
    h, w = int(image_size[0]), int(image_size[1])
    valid = ((z > min_depth) & (u >= border - 0.5) & (u < w - 0.5 - border)
             & (v >= border - 0.5) & (v < h - 0.5 - border))
    if depth is not None:
        d_map = _batched(_tensor(depth, xyz.dtype, dev), 2, b, 'depth')
        hd, wd = d_map.shape[-2:]
        if depth_intrinsic is None:
            sx, sy = wd / w, hd / h
            ud, vd = (u + 0.5) * sx - 0.5, (v + 0.5) * sy - 0.5
        else:
            kd = _batched(_tensor(depth_intrinsic, torch.float64, dev), 2, b,
                          'depth_intrinsic')[:, :3, :3].to(xyz.dtype)
            ud = (kd[:, None, 0, 0] * cam[..., 0] + kd[:, None, 0, 1] * cam[..., 1]) / safe_z \
                + kd[:, None, 0, 2]
            vd = kd[:, None, 1, 1] * cam[..., 1] / safe_z + kd[:, None, 1, 2]
        ui = torch.round(ud).long().clamp(0, wd - 1)
        vi = torch.round(vd).long().clamp(0, hd - 1)
        inside_d = (ud >= -0.5) & (ud < wd - 0.5) & (vd >= -0.5) & (vd < hd - 0.5)
        d = torch.gather(d_map.reshape(b, -1), 1, vi * wd + ui)
        tol = occlusion_thr if occlusion_mode == 'abs' else occlusion_thr * d
        valid = valid & inside_d & (d > 0) & ((z - d).abs() <= tol)
    uv = torch.stack([u, v], dim=-1)
    if unbatched:
        return uv[0], valid[0]
    return uv, valid


def feature_stride(image_size: Sequence[int], feat_size: Sequence[int]) -> Tuple[float, float]:
    """``(s_x, s_y)`` image pixels per feature cell when the map covers the whole image."""
    return image_size[1] / feat_size[1], image_size[0] / feat_size[0]


def sample_img_feat(feat_map: torch.Tensor, uv: torch.Tensor, image_size: Sequence[int],
                    stride: Union[None, float, Sequence[float]] = None,
                    valid: Optional[torch.Tensor] = None, mode: str = 'bilinear'
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sample a feature map at image pixel coordinates (equation (1) of the module docstring).

    Args:
        feat_map: (C, H_f, W_f) or (B, C, H_f, W_f), any float dtype (sampled in float32 on
            CPU, in its own dtype elsewhere).
        uv: (N, 2) or (B, N, 2) pixel coordinates of the image (u = column, v = row).
        image_size: ``(H, W)`` of that image, pixels.
        stride: image pixels per feature cell, scalar or ``(s_x, s_y)``; default
            :func:`feature_stride` (the map covers the whole image).
        valid: optional (…, N) bool; invalid points get zero features.
        mode: ``'bilinear'`` or ``'nearest'`` (``grid_sample``'s modes and values).

    Returns:
        ``feats`` (…, N, C) in the map's dtype (zeros where not valid) and ``valid`` (…, N):
        the given mask and the point lies inside the image and inside the map (its cells
        times ``stride``).

    Raises:
        ValueError: a batch mismatch between ``uv`` and the map, or an unknown ``mode``.
    """
    unbatched = feat_map.dim() == 3
    fm = feat_map.unsqueeze(0) if unbatched else feat_map
    pts = uv.unsqueeze(0) if uv.dim() == 2 else uv
    if pts.shape[0] != fm.shape[0]:
        raise ValueError(f'batch of uv {tuple(uv.shape)} does not match feature map '
                         f'{tuple(feat_map.shape)}')
    hf, wf = fm.shape[-2:]
    h, w = image_size
    if stride is None:
        sx, sy = feature_stride(image_size, (hf, wf))
    elif isinstance(stride, (int, float)):
        sx = sy = float(stride)
    else:
        sx, sy = map(float, stride)
    pts = pts.to(torch.float32)
    inside = ((pts[..., 0] >= -0.5) & (pts[..., 0] < w - 0.5)
              & (pts[..., 1] >= -0.5) & (pts[..., 1] < h - 0.5))
    # and inside the map, whatever the metadata says: a point beyond the map's last cell
    # would otherwise read the clamped border and count as valid
    cu, cv = (pts[..., 0] + 0.5) / sx, (pts[..., 1] + 0.5) / sy
    inside &= (cu >= 0) & (cu <= wf + 1e-4) & (cv >= 0) & (cv <= hf + 1e-4)
    ok = inside if valid is None else inside & (valid if valid.dim() == inside.dim()
                                                 else valid.unsqueeze(0))
    # border padding = the cell coordinate clamped to the outermost centres
    uf = ((pts[..., 0] + 0.5) / sx - 0.5).clamp(0, wf - 1)
    vf = ((pts[..., 1] + 0.5) / sy - 0.5).clamp(0, hf - 1)
    src = fm.float() if fm.device.type == 'cpu' else fm
    b, c = src.shape[:2]
    flat = src.flatten(2).transpose(1, 2).contiguous().view(b * hf * wf, c)   # rows
    base = (torch.arange(b, device=pts.device) * (hf * wf))[:, None]
    if mode == 'nearest':           # round half to even, as grid_sample's nearest
        idx = base + vf.round().long() * wf + uf.round().long()
        out = flat.index_select(0, idx.reshape(-1)).view(b, -1, c)
        out = out.masked_fill(~ok[..., None], 0)
    elif mode == 'bilinear':
        x0, y0 = uf.floor(), vf.floor()
        ax, ay = uf - x0, vf - y0
        x0, y0 = x0.long(), y0.long()
        x1, y1 = (x0 + 1).clamp(max=wf - 1), (y0 + 1).clamp(max=hf - 1)
        idx = torch.stack([y0 * wf + x0, y0 * wf + x1, y1 * wf + x0, y1 * wf + x1], -1)
        wgt = torch.stack([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay], -1)
        # the weighted sum of four rows is an embedding bag (forward and backward several
        # times faster than grid_sample's on CPU); points that are not valid get zero
        # weights, so their feature is 0 without another pass over the (N, C) output
        wgt = wgt * ok[..., None]
        out = F.embedding_bag((base[..., None] + idx).reshape(-1, 4), flat, mode='sum',
                              per_sample_weights=wgt.reshape(-1, 4).to(src.dtype)
                              ).view(b, -1, c)
    else:
        raise ValueError(f"sample_img_feat: mode {mode!r}, expected 'bilinear' or 'nearest'")
    out = out.to(feat_map.dtype)                                                  # (B, N, C)
    if unbatched or uv.dim() == 2:
        return out[0], ok[0]
    return out, ok
