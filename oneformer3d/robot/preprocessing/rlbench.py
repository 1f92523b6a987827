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
        FileNotFoundError: naming the missing file (calibration npz, an image).
        ValueError: the front camera's images are not exactly the npz's steps ``0..n-1``
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
        steps = [int(osp.splitext(f)[0]) for f in os.listdir(osp.join(root, 'front_rgb'))
                 if f.endswith('.png')]
        self.steps = sorted(steps)
        n = len(self.calib.get('gripper_pose', self.calib.get('front_extrinsics', [])))
        if self.steps != list(range(n)):
            extra = sorted(set(self.steps) - set(range(n)))
            lacking = sorted(set(range(n)) - set(self.steps))
            raise ValueError(
                f'{root}: front_rgb holds {len(self.steps)} images, {npz} {n} steps'
                + (f'; images without a step: {extra[:5]}' if extra else '')
                + (f'; steps without an image: {lacking[:5]}' if lacking else '')
                + ' (an incomplete copy of the episode?)')
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
        c = self.calib
        return dict(intrinsic=c[f'{cam}_intrinsics'][step], pose=c[f'{cam}_extrinsics'][step],
                    near=float(c[f'{cam}_near'][step]), far=float(c[f'{cam}_far'][step]))

    def depth(self, cam: str, step: int) -> np.ndarray:
        cal = self.camera(cam, step)
        return decode_depth(self._png(cam, 'depth', step), cal['near'], cal['far'])

    def point_cloud(self, step: int, cameras: Sequence[str], max_depth: float = 3.0
                    ) -> np.ndarray:
        """(N, 6) float32 world xyz + rgb from the given cameras' depth (RLBench's
        ``pc_world = R·((u−cx)·d/fx, (v−cy)·d/fy, d) + t``); depth beyond ``max_depth`` (the
        far plane / background) dropped."""
        clouds = []
        for cam in cameras:
            cal = self.camera(cam, step)
            depth = self.depth(cam, step)
            xyz, pix = backproject_depth(depth, cal['intrinsic'], cal['pose'], min_depth=0.01,
                                         max_depth=min(max_depth, cal['far'] - 1e-3))
            rgb = self.rgb(cam, step)[pix[:, 1], pix[:, 0]].astype(np.float32)
            clouds.append(np.concatenate([xyz, rgb], axis=1))
        return np.concatenate(clouds).astype(np.float32)


def step_name(step: int) -> str:
    return f'step_{step:04d}'


def prepare_episode(root: str, out_dir: str, task: str, episode: str, teacher,
                    teacher_name: str, anchor: str = 'front', cameras: Sequence[str] = (
                        'front',), fused: bool = True, num_points: int = 4096,
                    feat_root: str = 'teacher', tag: str = 'teacher',
                    extra_rgb_cameras: Sequence[str] = (), seed: int = 0,
                    steps: Optional[List[int]] = None, occlusion_thr: float = 0.02) -> dict:
    """Write one episode in the study's layout (see the module docstring).

    Args:
        teacher: a frozen point encoder, ``teacher(points (N, 6) float tensor) -> (N, D)``.
        teacher_name: stored in each file's meta (nothing downstream depends on it).
        cameras: cameras whose depth builds the cloud (``fused``: one cloud from all; else the
            anchor camera only).
        num_points: points kept per step (random, seeded).

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
        pc = ep.point_cloud(step, use)
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
    ``keyframes`` (k,) int64 (:func:`~.keyframes.find_keyframes`), ``target_index`` /
    ``target_trans`` / ``target_quat`` / ``target_open`` (:func:`~.keyframes.
    next_keyframe_targets`), ``variation`` () int64 (``variation_number.pkl``; -1 when absent).

    Raises:
        FileNotFoundError: no ``cameras_and_state.npz`` in ``root``.
        KeyError: the npz lacks a state array (named).
        ValueError: ``variation_number.pkl`` is not one integer, or names a global outside
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
    path = actions_path(out_dir, task, episode)
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path[:-4] + '.tmp.npz'
    np.savez(tmp, steps=np.arange(len(pose), dtype=np.int64),
             gripper_pose=pose.astype(np.float32), gripper_open=go.astype(np.float32),
             joint_velocities=state['joint_velocities'].astype(np.float32),
             keyframes=np.asarray(keyframes, dtype=np.int64),
             target_index=targets['target_index'], target_trans=targets['trans'],
             target_quat=targets['quat'], target_open=targets['open'],
             variation=np.int64(variation))
    os.replace(tmp, path)
    return dict(steps=len(pose), keyframes=keyframes, variation=variation)
