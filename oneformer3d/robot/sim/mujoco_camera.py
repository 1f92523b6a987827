"""MuJoCo cameras as the project's pinhole cameras (``oneformer3d.geometry`` conventions).

MuJoCo (``mjvCamera`` / ``mjr_render``; MuJoCo docs, "Cameras"): a camera's frame is
``data.cam_xpos`` (world, m) and ``data.cam_xmat`` (3x3, columns = camera axes in world), with
x right, y up and the view along **-z** (OpenGL). ``model.cam_fovy`` is the vertical field of
view in degrees; pixels are square. ``mujoco.Renderer.render`` returns rows top-first (it flips
OpenGL's bottom-up buffer) and, with depth rendering, the planar distance along the view axis
in metres (linearised from the z-buffer between ``znear`` and ``zfar`` = ``model.vis.map`` x
``model.stat.extent``); background pixels read ``zfar``.

Here: ``pose`` = camera-to-world in the OpenCV frame (x right, y down, z forward):
``R_cv = cam_xmat · diag(1, -1, -1)``, ``t = cam_xpos``. ``intrinsic``: ``f = (H / 2) /
tan(fovy / 2)`` for both axes, principal point ``((W - 1) / 2, (H - 1) / 2)`` (integer pixel
coordinates are pixel centres, so the image centre lies between pixels for even sizes).
"""
from typing import Dict, Sequence

import numpy as np

OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


def camera_intrinsic(model, camera: str, height: int, width: int) -> np.ndarray:
    """(3, 3) float64 pinhole matrix of ``camera`` rendered at ``height`` x ``width``.

    Raises:
        KeyError: no camera of that name in the model (naming the ones it has).
    """
    cam = _camera(model, camera)
    f = 0.5 * height / np.tan(np.deg2rad(float(cam.fovy[0])) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def camera_pose(model, data, camera: str) -> np.ndarray:
    """(4, 4) float64 camera-to-world pose of ``camera`` in the OpenCV frame (see module)."""
    cid = _camera(model, camera).id
    pose = np.eye(4)
    pose[:3, :3] = data.cam_xmat[cid].reshape(3, 3) @ OPENGL_TO_OPENCV
    pose[:3, 3] = data.cam_xpos[cid]
    return pose


def _camera(model, camera: str):
    try:
        return model.camera(camera)
    except KeyError:
        names = [model.camera(i).name for i in range(model.ncam)]
        raise KeyError(f'no camera {camera!r} in the MuJoCo model; it has {names}') from None


class MujocoCameras:
    """Renders RGB and metric depth from named cameras of one model.

    Shadows, reflections, skybox, fog and haze are switched off (with Mesa's software
    renderer a 96x96 RGB frame takes ~20 ms instead of ~110 ms; the geometry is unchanged).

    Args:
        model: ``mujoco.MjModel``. cameras: camera names. height, width: image size (pixels).

    ``render(data)`` returns ``{camera: {'rgb': (H, W, 3) uint8, 'depth': (H, W) float32 m
    (0 where nothing is hit, i.e. at the far plane), 'intrinsic': (3, 3), 'pose': (4, 4),
    'near': float m, 'far': float m}}``.
    """

    def __init__(self, model, cameras: Sequence[str], height: int = 96, width: int = 96):
        import mujoco
        self.model, self.cameras = model, list(cameras)
        self.height, self.width = height, width
        self.intrinsics = {c: camera_intrinsic(model, c, height, width) for c in self.cameras}
        self.renderer = mujoco.Renderer(model, height, width)
        for flag in ('mjRND_SHADOW', 'mjRND_REFLECTION', 'mjRND_SKYBOX', 'mjRND_FOG',
                     'mjRND_HAZE'):
            self.renderer.scene.flags[getattr(mujoco.mjtRndFlag, flag)] = False
        extent = float(model.stat.extent)
        self.near = float(model.vis.map.znear) * extent
        self.far = float(model.vis.map.zfar) * extent

    def render(self, data) -> Dict[str, dict]:
        out = {}
        r = self.renderer
        for cam in self.cameras:
            r.disable_depth_rendering()
            r.update_scene(data, camera=cam)
            rgb = r.render().copy()
            r.enable_depth_rendering()
            r.update_scene(data, camera=cam)
            depth = r.render().astype(np.float32)
            r.disable_depth_rendering()
            depth[depth >= self.far * (1 - 1e-4)] = 0.0       # nothing hit
            out[cam] = dict(rgb=rgb, depth=depth, intrinsic=self.intrinsics[cam],
                            pose=camera_pose(self.model, data, cam), near=self.near,
                            far=self.far)
        return out

    def close(self) -> None:
        self.renderer.close()
