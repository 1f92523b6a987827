"""Camera conventions and the basic projective operations — the one place they are written.

Conventions (``../shared/DESIGN.md``):

* ``pose``: (4, 4) camera-to-world, metres. World -> camera uses ``inv(pose)``.
* ``intrinsic``: (3, 3) or (4, 4) pinhole matrix of the image it belongs to (pixels).
  Camera frame: x right, y down, z forward (OpenCV/ScanNet). Negative focal lengths (RLBench)
  are accepted as they are: the same formulas hold.
* Pixel coordinates: integer ``(u, v)`` is the centre of pixel column ``u``, row ``v``.
  Resizing an image by ``(sx, sy)`` maps ``u -> (u + 0.5) * sx - 0.5`` (see
  :func:`scale_intrinsic`).
* Depth images: uint16 millimetres on disk (ScanNet, 7-Scenes), metres in memory, 0 = invalid.
"""
from typing import Optional, Tuple

import numpy as np


def as_intrinsic3x3(intrinsic: np.ndarray) -> np.ndarray:
    """(3, 3) float64 from a (3, 3) or (4, 4) intrinsic.

    Raises:
        ValueError: for any other shape.
    """
    k = np.asarray(intrinsic, dtype=np.float64)
    if k.shape == (4, 4):
        k = k[:3, :3]
    if k.shape != (3, 3):
        raise ValueError(f'intrinsic must be 3x3 or 4x4, got {k.shape}')
    return k


# A pose's rotation must be orthonormal within this (max |R^T R - I|): real poses written
# as text measure 1e-6 (ScanNet), 4e-4 (7-Scenes); a rotation scaled by 1 % measures 0.02.
RIGID_TOLERANCE = 1e-2


def check_pose(pose: np.ndarray) -> Optional[str]:
    """Why ``pose`` (4, 4) is not a usable rigid camera-to-world transform, or None: wrong
    shape, NaN/Inf, a last row other than ``0 0 0 1``, a rotation that is not orthonormal
    (``RIGID_TOLERANCE``; e.g. scaled) or a reflection (det -1)."""
    p = np.asarray(pose, dtype=np.float64)
    if p.shape != (4, 4):
        return f'pose shape {p.shape} is not (4, 4)'
    if not np.isfinite(p).all():
        return 'pose has NaN/Inf values'
    if np.abs(p[3] - [0, 0, 0, 1]).max() > 1e-6:
        return f'pose last row {p[3].round(6).tolist()} is not [0, 0, 0, 1]'
    rot = p[:3, :3]
    err = float(np.abs(rot.T @ rot - np.eye(3)).max())
    if err > RIGID_TOLERANCE:
        return (f'pose rotation is not orthonormal (max |R^T R - I| = {err:.3g}; scaled or '
                f'sheared?)')
    if np.linalg.det(rot) < 0:
        return 'pose rotation is a reflection (det -1)'
    return None


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) homogeneous transform to (N, 3) points; returns (N, 3) of the same dtype."""
    m = np.asarray(matrix, dtype=np.float64)
    out = points[:, :3].astype(np.float64) @ m[:3, :3].T + m[:3, 3]
    return out.astype(points.dtype if points.dtype.kind == 'f' else np.float64)


def project_points(points: np.ndarray, intrinsic: np.ndarray,
                   pose: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """World points -> pixel coordinates of the camera at ``pose``.

    Args:
        points: (N, >=3) world coordinates, metres.
        intrinsic: (3, 3)/(4, 4) of the target image.
        pose: (4, 4) camera-to-world.

    Returns:
        ``uv`` (N, 2) float64 pixels (pixel-centre convention) and ``z`` (N,) camera depth in
        metres; ``uv`` is meaningless where ``z <= 0``.
    """
    cam = transform_points(points[:, :3].astype(np.float64), np.linalg.inv(pose))
    k = as_intrinsic3x3(intrinsic)
    z = cam[:, 2]
    safe = np.where(np.abs(z) > 1e-9, z, 1e-9)
    u = k[0, 0] * cam[:, 0] / safe + k[0, 1] * cam[:, 1] / safe + k[0, 2]
    v = k[1, 1] * cam[:, 1] / safe + k[1, 2]
    return np.stack([u, v], axis=1), z


def backproject_depth(depth: np.ndarray, intrinsic: np.ndarray, pose: np.ndarray,
                      min_depth: float = 0.1, max_depth: float = 20.0
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """Depth image (metres) -> world points.

    Args:
        depth: (H, W) float metres; values outside ``(min_depth, max_depth)`` are invalid.
        intrinsic: (3, 3)/(4, 4) of the depth image.
        pose: (4, 4) camera-to-world.

    Returns:
        ``points`` (M, 3) float32 world coordinates and ``pixels`` (M, 2) int64 ``(u, v)``.
    """
    k = as_intrinsic3x3(intrinsic)
    v, u = np.nonzero((depth > min_depth) & (depth < max_depth))
    z = depth[v, u].astype(np.float64)
    y = (v - k[1, 2]) * z / k[1, 1]
    x = (u - k[0, 2] - k[0, 1] * y / z) * z / k[0, 0]
    cam = np.stack([x, y, z], axis=1)
    world = transform_points(cam, pose).astype(np.float32)
    return world, np.stack([u, v], axis=1).astype(np.int64)


def scale_intrinsic(intrinsic: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsic of the same camera after resizing the image by ``(sx, sy)``.

    Pixel centres map as ``u' = (u + 0.5) * sx - 0.5``, so ``fx' = fx * sx`` and
    ``cx' = (cx + 0.5) * sx - 0.5``. Use it for ScanNet's registered colour (1296x968) and depth
    (640x480) images. Returns the same shape as given.
    """
    k = np.array(intrinsic, dtype=np.float64)
    k[0, 0] *= sx
    k[0, 1] *= sx
    k[1, 1] *= sy
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k


def render_points(points: np.ndarray, intrinsic: np.ndarray, pose: np.ndarray,
                  image_size: Tuple[int, int], splat: int = 1,
                  min_depth: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """Z-buffer a point set (e.g. mesh vertices) into the camera at ``pose``.

    Each point covers the ``(2*splat+1)^2`` pixels around its projection (vertices are
    sparser than pixels); the nearest point wins each pixel.

    Args:
        points: (N, >=3) world coordinates, metres.
        intrinsic: (3, 3)/(4, 4) of the rendered image.
        pose: (4, 4) camera-to-world.
        image_size: ``(H, W)``.
        splat: half-width of the square each point covers, pixels.
        min_depth: points closer than this are ignored, metres.

    Returns:
        ``depth`` (H, W) float32 metres (0 where nothing projects) and ``index`` (H, W) int64,
        the winning point per pixel (-1 where none).
    """
    h, w = image_size
    uv, z = project_points(points, intrinsic, pose)
    ok = np.flatnonzero(z > min_depth)
    ui = np.round(uv[ok, 0]).astype(np.int64)
    vi = np.round(uv[ok, 1]).astype(np.int64)
    zk = z[ok]
    pix, depth, owner = [], [], []
    for du in range(-splat, splat + 1):
        for dv in range(-splat, splat + 1):
            uu, vv = ui + du, vi + dv
            inside = (uu >= 0) & (uu < w) & (vv >= 0) & (vv < h)
            pix.append(vv[inside] * w + uu[inside])
            depth.append(zk[inside])
            owner.append(ok[inside])
    pix, depth, owner = np.concatenate(pix), np.concatenate(depth), np.concatenate(owner)
    order = np.lexsort((depth, pix))            # by pixel, nearest first
    first = np.ones(len(order), dtype=bool)
    first[1:] = pix[order][1:] != pix[order][:-1]
    win = order[first]
    depth_img = np.zeros(h * w, dtype=np.float32)
    index_img = np.full(h * w, -1, dtype=np.int64)
    depth_img[pix[win]] = depth[win]
    index_img[pix[win]] = owner[win]
    return depth_img.reshape(h, w), index_img.reshape(h, w)


def render_depth(points: np.ndarray, intrinsic: np.ndarray, pose: np.ndarray,
                 image_size: Tuple[int, int], splat: int = 1,
                 min_depth: float = 0.1) -> np.ndarray:
    """Z-buffer depth map (H, W) float32 metres of a point set; see :func:`render_points`."""
    return render_points(points, intrinsic, pose, image_size, splat, min_depth)[0]


# SUN RGB-D: points live in the upright depth frame (x right, y forward, z up); the camera
# frame of ``intrinsic`` is x right, y down, z forward: cam = M @ Rtilt^T @ xyz.
_SUNRGBD_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def sunrgbd_pose(rtilt: np.ndarray) -> np.ndarray:
    """Camera-to-world (4, 4) pose of a SUN RGB-D view from its ``Rtilt`` (3, 3).

    The dataset's projection ``p = xyz @ Rtilt; cam = (p0, -p2, p1); uv = K cam`` (mmdet3d
    ``depth2img``) is ``inv(pose)`` followed by ``K`` with ``pose[:3, :3] = Rtilt @ M^T``,
    ``M`` = the axis swap above. The calib file stores Rtilt and K column-major
    (``np.loadtxt(...).reshape(3, 3, order='F')``).
    """
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(rtilt, dtype=np.float64) @ _SUNRGBD_AXES.T
    return pose
