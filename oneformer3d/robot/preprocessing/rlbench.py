"""RLBench episodes -> the RGB / point-cloud layout of the alignment study.

Input (one episode folder, RLBench's export as in ``../shared/data/rlbench``):
``{cam}_rgb/N.png`` uint8 RGB, ``{cam}_depth/N.png`` depth encoded in RGB
(``d01 = (R·65536 + G·256 + B) / (2^24 − 1)``, ``depth = near + d01·(far − near)`` metres,
planar z), ``cameras_and_state.npz`` with per step ``{cam}_intrinsics`` (3, 3; negative focal
lengths — the pinhole formulas of :mod:`oneformer3d.geometry` hold as they are),
``{cam}_extrinsics`` (4, 4) camera-to-world, ``{cam}_near``, ``{cam}_far``.

Output (the layout users already have):

* ``<out>/rgb_dataset/RGB/<task>/<episode>/step_XXXX.png`` — the anchor camera's image;
  other cameras (``--cameras``) under ``RGB_<cam>/`` in the same layout;
* ``<out>/pc_dataset/PC/<feat_root>/<task>/<episode>/step_XXXX.ply.<tag>.pt`` =
  ``{pc: (N, 6) float32 xyz (world, metres) rgb (0..255), uv: (N, 2) float32 pixel
  coordinates of the point in the anchor camera's original image (pixel-centre convention;
  outside the image for points the anchor does not see), uv_valid: (N,) bool (inside the
  anchor image and not occluded there: |z − depth| ≤ 2 cm), pc_feat: (N, D) float32 teacher
  features, meta: {teacher, teacher_cfg, anchor_camera, cameras, image_size, fused}}``.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from oneformer3d.geometry import backproject_depth, build_uv_index, check_pose

CAMERAS = ('front', 'left_shoulder', 'right_shoulder', 'overhead', 'wrist')


def decode_depth(png: np.ndarray, near: float, far: float) -> np.ndarray:
    """RLBench RGB-encoded depth (H, W, 3) uint8 -> (H, W) float32 metres."""
    rgb = png.astype(np.float64)
    d01 = (rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2]) / (2 ** 24 - 1)
    return (near + d01 * (far - near)).astype(np.float32)


class RLBenchEpisode:
    """Random access to one episode's steps and cameras.

    Raises:
        FileNotFoundError: naming the missing file (calibration npz, an image), or no
            camera of the npz has an image folder.
        ValueError: a camera's images are not exactly the npz's steps ``0..n-1``
            (naming the folder, both counts and the first unmatched steps), or a camera pose
            is not a rigid transform (:func:`~oneformer3d.geometry.check_pose`; naming the
            camera and the step).
    """

    def __init__(self, root: str):
        self.root = root
        npz = osp.join(root, 'cameras_and_state.npz')
        if not osp.isfile(npz):
            raise FileNotFoundError(f'{npz}: missing camera calibration')
        self.calib = dict(np.load(npz))
        # the episode's cameras: those with a pose in the npz (RLBench's five, or a
        # simulator's own names, tools/robot/collect_sim_demos.py)
        self.cameras = [k[:-len('_extrinsics')] for k in self.calib if k.endswith('_extrinsics')]
        if not self.cameras:
            raise ValueError(f'{npz}: no <camera>_extrinsics array')
        n = len(self.calib.get('gripper_pose', self.calib[f'{self.cameras[0]}_extrinsics']))
        folders = [c for c in self.cameras if osp.isdir(osp.join(root, f'{c}_rgb'))]
        if not folders:
            raise FileNotFoundError(f'{root}: no <camera>_rgb folder of the cameras '
                                    f'{self.cameras} in {npz}')
        for cam in folders:       # every camera exported must hold every step
            steps = sorted(int(osp.splitext(f)[0]) for f in
                           os.listdir(osp.join(root, f'{cam}_rgb')) if f.endswith('.png'))
            if steps != list(range(n)):
                extra = sorted(set(steps) - set(range(n)))
                lacking = sorted(set(range(n)) - set(steps))
                raise ValueError(
                    f'{root}: {cam}_rgb holds {len(steps)} images, {npz} {n} steps'
                    + (f'; images without a step: {extra[:5]}' if extra else '')
                    + (f'; steps without an image: {lacking[:5]}' if lacking else '')
                    + ' (an incomplete copy of the episode?)')
        self.steps = list(range(n))
        for key in (k for k in self.calib if k.endswith('_extrinsics')):
            for step, pose in enumerate(self.calib[key]):
                why = check_pose(pose)
                if why is not None:
                    raise ValueError(f'{npz}: {key}[{step}]: {why}')

    def __len__(self):
        return len(self.steps)

    def _png(self, cam: str, kind: str, step: int) -> np.ndarray:
        path = osp.join(self.root, f'{cam}_{kind}', f'{step}.png')
        try:
            return np.asarray(Image.open(path).convert('RGB'))
        except (OSError, FileNotFoundError) as err:
            raise FileNotFoundError(f'{path}: unreadable image ({err})') from None

    def rgb(self, cam: str, step: int) -> np.ndarray:
        return self._png(cam, 'rgb', step)

    def rgb_path(self, cam: str, step: int) -> str:
        return osp.join(self.root, f'{cam}_rgb', f'{step}.png')

    def camera(self, cam: str, step: int) -> Dict[str, np.ndarray]:
        """Raises KeyError naming the episode's cameras when ``cam`` is not one."""
        if cam not in self.cameras:
            raise KeyError(f'{self.root}: no camera {cam!r}; the episode has {self.cameras}')
        c = self.calib
        return dict(intrinsic=c[f'{cam}_intrinsics'][step], pose=c[f'{cam}_extrinsics'][step],
                    near=float(c[f'{cam}_near'][step]), far=float(c[f'{cam}_far'][step]))

    def depth(self, cam: str, step: int) -> np.ndarray:
        cal = self.camera(cam, step)
        return decode_depth(self._png(cam, 'depth', step), cal['near'], cal['far'])

    def point_cloud(self, step: int, cameras: Sequence[str], max_depth: float = 3.0,
                    workspace: Optional[Sequence[float]] = None) -> np.ndarray:
        """(N, 6) float32 world xyz + rgb of the step from the given cameras
        (:func:`fuse_views`)."""
        return fuse_views([dict(self.camera(cam, step), depth=self.depth(cam, step),
                                rgb=self.rgb(cam, step)) for cam in cameras],
                          max_depth=max_depth, workspace=workspace)


def crop_workspace(points: np.ndarray, workspace: Optional[Sequence[float]]) -> np.ndarray:
    """Keep the points inside ``workspace`` = ``(x_min, x_max, y_min, y_max, z_min, z_max)``
    (m, world; PerAct's scene bounds); None keeps all.

    Raises:
        ValueError: ``workspace`` is not six numbers with min < max per axis.
    """
    if workspace is None:
        return points
    b = np.asarray(workspace, dtype=np.float64)
    if b.shape != (6,) or not (b[0::2] < b[1::2]).all():
        raise ValueError(f'workspace must be (x_min, x_max, y_min, y_max, z_min, z_max) with '
                         f'min < max, got {list(workspace)}')
    xyz = points[:, :3]
    keep = ((xyz >= b[0::2]) & (xyz <= b[1::2])).all(1)
    return points[keep]


def fuse_views(views: Sequence[dict], max_depth: float = 3.0,
               workspace: Optional[Sequence[float]] = None) -> np.ndarray:
    """One point cloud from several RGB-D views: RLBench's ``pc_world = R·((u−cx)·d/fx,
    (v−cy)·d/fy, d) + t`` per view (:func:`~oneformer3d.geometry.backproject_depth`), depth
    beyond ``max_depth`` or the view's far plane (background) dropped, then the workspace crop
    (:func:`crop_workspace`). The prepare tool and the closed-loop evaluation
    (``oneformer3d.robot.sim``) both build their clouds here.

    Args:
        views: dicts with ``depth`` (H, W) float m, ``rgb`` (H, W, 3) uint8, ``intrinsic``
            (3, 3), ``pose`` (4, 4) camera-to-world, ``far`` (m).

    Returns:
        (N, 6) float32 world xyz (m) + rgb (0..255); N may be 0.
    """
    clouds = []
    for view in views:
        xyz, pix = backproject_depth(view['depth'], view['intrinsic'], view['pose'],
                                     min_depth=0.01,
                                     max_depth=min(max_depth, view['far'] - 1e-3))
        rgb = view['rgb'][pix[:, 1], pix[:, 0]].astype(np.float32)
        clouds.append(np.concatenate([xyz, rgb], axis=1))
    return crop_workspace(np.concatenate(clouds).astype(np.float32), workspace)


def step_name(step: int) -> str:
    return f'step_{step:04d}'


def prepare_episode(root: str, out_dir: str, task: str, episode: str, teacher,
                    teacher_name: str, anchor: str = 'front', cameras: Sequence[str] = (
                        'front',), fused: bool = True, num_points: int = 4096,
                    feat_root: str = 'teacher', tag: str = 'teacher',
                    extra_rgb_cameras: Sequence[str] = (), seed: int = 0,
                    steps: Optional[List[int]] = None, occlusion_thr: float = 0.02,
                    workspace: Optional[Sequence[float]] = None) -> dict:
    """Write one episode in the study's layout (see the module docstring).

    Args:
        teacher: a frozen point encoder, ``teacher(points (N, 6) float tensor) -> (N, D)``.
        teacher_name: stored in each file's meta (nothing downstream depends on it).
        cameras: cameras whose depth builds the cloud (``fused``: one cloud from all; else the
            anchor camera only).
        num_points: points kept per step (random, seeded).
        workspace: crop of the fused cloud (:func:`crop_workspace`); None keeps all.

    Raises:
        ValueError: a step whose cloud is empty after the crop (naming the episode, the step
            and the workspace).

    Returns:
        ``{'steps', 'points_mean', 'visible_in_anchor'}``.
    """
    ep = RLBenchEpisode(root)
    rng = np.random.default_rng(seed)
    use = list(cameras) if fused else [anchor]
    rgb_dir = osp.join(out_dir, 'rgb_dataset', 'RGB', task, episode)
    pc_dir = osp.join(out_dir, 'pc_dataset', 'PC', feat_root, task, episode)
    os.makedirs(rgb_dir, exist_ok=True)
    os.makedirs(pc_dir, exist_ok=True)
    n_pts, visible = [], []
    for step in (steps if steps is not None else ep.steps):
        name = step_name(step)
        img = ep.rgb(anchor, step)
        Image.fromarray(img).save(osp.join(rgb_dir, f'{name}.png'))
        for cam in extra_rgb_cameras:
            d = osp.join(out_dir, 'rgb_dataset', f'RGB_{cam}', task, episode)
            os.makedirs(d, exist_ok=True)
            Image.fromarray(ep.rgb(cam, step)).save(osp.join(d, f'{name}.png'))
        pc = ep.point_cloud(step, use, workspace=workspace)
        if len(pc) == 0:
            raise ValueError(f'{root}: step {step}: no point of cameras {use} inside the '
                             f'workspace {list(workspace) if workspace is not None else None}')
        if len(pc) > num_points:
            pc = pc[np.sort(rng.choice(len(pc), num_points, replace=False))]
        cal = ep.camera(anchor, step)
        # visible in the anchor camera: inside its image and in front of its depth (2 cm)
        uv, ok = build_uv_index(pc[:, :3], cal['intrinsic'], cal['pose'], img.shape[:2],
                                depth=ep.depth(anchor, step), min_depth=0.01,
                                occlusion_thr=occlusion_thr)
        with torch.no_grad():
            feat = teacher(torch.from_numpy(pc)).float()
        torch.save(dict(pc=torch.from_numpy(pc), uv=uv.float(), uv_valid=ok, pc_feat=feat,
                        meta=dict(teacher=teacher_name, anchor_camera=anchor,
                                  cameras=list(use), fused=fused,
                                  image_size=list(img.shape[:2]))),
                   osp.join(pc_dir, f'{name}.ply.{tag}.pt'))
        n_pts.append(len(pc))
        visible.append(float(ok.float().mean()))
    return dict(steps=len(n_pts), points_mean=float(np.mean(n_pts)),
                visible_in_anchor=float(np.mean(visible)))


def actions_path(out_dir: str, task: str, episode: str) -> str:
    """``<out>/actions/<task>/<episode>.npz``: proprioception, keyframes and targets."""
    return osp.join(out_dir, 'actions', task, f'{episode}.npz')


def write_episode_actions(root: str, out_dir: str, task: str, episode: str) -> dict:
    """Write one episode's per-step proprioception, keyframes and next-keyframe targets.

    File (:func:`actions_path`, numpy ``.npz``): ``steps`` (n,) int64 step numbers (the
    ``step_XXXX`` names of the point files and packs), ``gripper_pose`` (n, 7) float32 xyz (m,
    world) + quaternion xyzw, ``gripper_open`` (n,) float32 0/1, ``joint_velocities`` (n, J),
    ``keyframes`` (k,) int64 (the npz's own ``keyframes`` array when it has one — simulated
    episodes, ``tools/robot/collect_sim_demos.py`` — else :func:`~.keyframes.find_keyframes`),
    ``target_index`` /
    ``target_trans`` / ``target_quat`` / ``target_open`` (:func:`~.keyframes.
    next_keyframe_targets`), ``variation`` () int64 (``variation_number.pkl``; -1 when absent),
    and, copied when the episode has them (simulated demos), ``expert_actions`` (n, 4) float32
    and ``action_scale`` () (m per unit action; the ``'expert_action'`` target rule,
    :mod:`~.action_targets`).

    Raises:
        FileNotFoundError: no ``cameras_and_state.npz`` in ``root``.
        KeyError: the npz lacks a state array (named).
        ValueError: the npz's ``keyframes`` are not increasing steps ending with the last;
            ``variation_number.pkl`` is not one integer, or names a global outside
            the safe unpickler's allow-list (:mod:`oneformer3d.datasets.infos_io`).
    """
    from oneformer3d.datasets.infos_io import load_pickle
    from .keyframes import find_keyframes, next_keyframe_targets
    npz = osp.join(root, 'cameras_and_state.npz')
    if not osp.isfile(npz):
        raise FileNotFoundError(f'{npz}: missing episode state')
    state = np.load(npz)
    for key in ('gripper_pose', 'gripper_open', 'joint_velocities'):
        if key not in state:
            raise KeyError(f'{npz}: no {key!r} array')
    pose, go = state['gripper_pose'], state['gripper_open']
    if 'keyframes' in state:      # given by the episode (a simulator's scripted expert)
        keyframes = [int(k) for k in state['keyframes']]
        if (not keyframes or keyframes != sorted(set(keyframes)) or keyframes[0] < 1
                or keyframes[-1] != len(pose) - 1):
            raise ValueError(f'{npz}: keyframes must be increasing steps in 1..{len(pose) - 1} '
                             f'ending with the last step, got {keyframes}')
    else:
        keyframes = find_keyframes(go, state['joint_velocities'])
    targets = next_keyframe_targets(pose, go, keyframes)
    variation = -1
    var_file = osp.join(root, 'variation_number.pkl')
    if osp.isfile(var_file):
        variation = load_pickle(var_file, 'RLBench variation numbers')
        if not isinstance(variation, (int, np.integer)):
            raise ValueError(f'{var_file}: expected one integer (the episode\'s variation), '
                             f'got {type(variation).__name__}')
        variation = int(variation)
    per_step = {k: state[k] for k in ('expert_actions', 'action_scale') if k in state}
    path = actions_path(out_dir, task, episode)
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path[:-4] + '.tmp.npz'
    np.savez(tmp, steps=np.arange(len(pose), dtype=np.int64),
             gripper_pose=pose.astype(np.float32), gripper_open=go.astype(np.float32),
             joint_velocities=state['joint_velocities'].astype(np.float32),
             keyframes=np.asarray(keyframes, dtype=np.int64),
             target_index=targets['target_index'], target_trans=targets['trans'],
             target_quat=targets['quat'], target_open=targets['open'],
             variation=np.int64(variation), **per_step)
    os.replace(tmp, path)
    return dict(steps=len(pose), keyframes=keyframes, variation=variation)
