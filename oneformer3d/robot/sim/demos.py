"""Scripted-expert demonstrations written in the RLBench episode layout.

One episode folder per seed (``<out>/<task>/episode<seed>/``), read by
:class:`~oneformer3d.robot.preprocessing.rlbench.RLBenchEpisode` like an RLBench export:

* ``{cam}_rgb/N.png`` uint8 RGB; ``{cam}_depth/N.png`` depth in RLBench's 24-bit RGB encoding
  between the renderer's near and far planes (``d01 = (R·65536 + G·256 + B) / (2^24 − 1)``;
  0 where nothing is hit, i.e. the far plane; quantisation ~7 µm with MuJoCo's 117 m range);
* ``cameras_and_state.npz``: per step ``{cam}_intrinsics`` (n, 3, 3) (positive focal lengths,
  OpenCV frame), ``{cam}_extrinsics`` (n, 4, 4) camera-to-world, ``{cam}_near``, ``{cam}_far``;
  ``gripper_pose`` (n, 7) xyz + quaternion xyzw, ``gripper_open`` (n,) 0/1,
  ``joint_velocities`` (n, 7), ``expert_actions`` (n, 4) (the expert's action at each step;
  the last one is not executed), ``action_scale`` () (metres per unit of action, Meta-World's
  0.01), ``keyframes`` (k,) and ``seed``, ``success``;
* ``episode.json`` (written last: its presence marks a finished episode): task, seed,
  success, steps, cameras, image size, keyframe rule, workspace, package versions.

Keyframes (the targets of the stage-2 head, :mod:`~oneformer3d.robot.preprocessing.
keyframes`): ARM/PerAct's stop rule finds none here — Meta-World's experts are proportional
controllers that switch waypoint before the arm stops — so a keyframe is where the expert
switches waypoint (:func:`sim_keyframes`: its commanded direction turns, or its gripper command
changes), the analogue of RLBench's motion-planner waypoints. The head predicts the hand pose at
the next one and the closed-loop controller moves there (docs/robot_sim.md).
"""
import json
import os
import os.path as osp
import shutil
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from ..preprocessing.rlbench import fuse_views


def encode_depth(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """(H, W) float metres -> (H, W, 3) uint8 in RLBench's encoding (inverse of
    :func:`~oneformer3d.robot.preprocessing.rlbench.decode_depth`); 0 (nothing hit) -> far."""
    d = np.where(depth > 0, depth, far).astype(np.float64)
    code = np.round(np.clip((d - near) / (far - near), 0, 1) * (2 ** 24 - 1)).astype(np.int64)
    return np.stack([code >> 16, (code >> 8) & 255, code & 255], axis=-1).astype(np.uint8)


def sim_keyframes(expert_actions: np.ndarray, gripper_open: np.ndarray,
                  turn_deg: float = 45.0, min_gap: int = 5, min_command: float = 0.05) -> list:
    """Keyframes of a scripted-expert demo: the steps where the expert switches waypoint.

    Step ``i > 0`` is a keyframe when the gripper command changes (``gripper_open[i] !=
    gripper_open[i-1]``), or when the commanded xyz direction turns by more than ``turn_deg``
    between steps ``i-1`` and ``i`` (both commands longer than ``min_command``) at least
    ``min_gap`` steps after the previous keyframe; the last step always is one.

    Args:
        expert_actions: (n, 4) the expert's actions (xyz in [-1, 1], grab effort).
        gripper_open: (n,) 0/1.

    Raises:
        ValueError: mismatched lengths, or ``min_gap`` < 1.
    """
    xyz = np.asarray(expert_actions, dtype=np.float64)[:, :3]
    go = np.asarray(gripper_open).round()
    n = len(xyz)
    if len(go) != n or n == 0 or min_gap < 1:
        raise ValueError(f'sim_keyframes: {n} actions, {len(go)} gripper states, '
                         f'min_gap {min_gap} (>= 1 needed)')
    cos_max = np.cos(np.deg2rad(turn_deg))
    keyframes, last = [], 0
    for i in range(1, n):
        u, v = xyz[i - 1], xyz[i]
        nu, nv = np.linalg.norm(u), np.linalg.norm(v)
        turn = nu > min_command and nv > min_command and u @ v < cos_max * nu * nv
        if go[i] != go[i - 1] or (turn and i - last >= min_gap):
            keyframes.append(i)
            last = i
    if not keyframes or keyframes[-1] != n - 1:
        keyframes.append(n - 1)
    return keyframes


def episode_name(seed: int) -> str:
    return f'episode{seed}'


def finished(out_dir: str, task: str, seed: int) -> Optional[dict]:
    """The episode's ``episode.json`` when the episode was finished, else None."""
    path = osp.join(out_dir, task, episode_name(seed), 'episode.json')
    if not osp.isfile(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def record_demo(sim, seed: int, out_dir: str, keyframe_turn_deg: float = 45.0,
                keyframe_min_gap: int = 5, workspace: Optional[Sequence[float]] = None,
                made_by: Optional[dict] = None) -> dict:
    """Roll out the scripted expert of ``sim`` (a :class:`~.metaworld_env.MetaWorldTask`) on
    ``seed`` and write the episode (module docstring) when it succeeds.

    Returns:
        ``{'seed', 'success', 'steps', 'empty_cloud_steps', 'written'}``: a demo is written
        only when the expert succeeds and every step's fused cloud has points inside
        ``workspace`` (the prepare tool refuses empty steps); otherwise nothing is left.
    """
    folder = osp.join(out_dir, sim.task, episode_name(seed))
    shutil.rmtree(folder, ignore_errors=True)           # an unfinished earlier try
    obs, actions = [sim.reset(seed)], []
    while True:
        act = sim.expert_action()
        actions.append(act)
        if sim.done:
            break
        obs.append(sim.step(act))
    empty = sum(len(fuse_views(list(o['frames'].values()), workspace=workspace)) == 0
                for o in obs)
    result = dict(seed=int(seed), success=bool(sim.success), steps=len(obs),
                  empty_cloud_steps=int(empty), written=False)
    if not sim.success or empty:
        return result
    cams = list(obs[0]['frames'])
    for cam in cams:
        for kind in ('rgb', 'depth'):
            os.makedirs(osp.join(folder, f'{cam}_{kind}'), exist_ok=True)
        for i, o in enumerate(obs):
            f = o['frames'][cam]
            Image.fromarray(f['rgb']).save(osp.join(folder, f'{cam}_rgb', f'{i}.png'))
            Image.fromarray(encode_depth(f['depth'], f['near'], f['far'])).save(
                osp.join(folder, f'{cam}_depth', f'{i}.png'))
    go = np.array([o['gripper_open'] for o in obs], dtype=np.float32)
    vel = np.stack([o['joint_velocities'] for o in obs])
    arrays = dict(gripper_pose=np.stack([o['gripper_pose'] for o in obs]), gripper_open=go,
                  joint_velocities=vel, expert_actions=np.stack(actions),
                  action_scale=np.float64(sim.action_scale),
                  keyframes=np.asarray(sim_keyframes(np.stack(actions), go, keyframe_turn_deg,
                                                     keyframe_min_gap), np.int64),
                  seed=np.int64(seed), success=np.bool_(True))
    for cam in cams:
        for key, name in (('intrinsic', 'intrinsics'), ('pose', 'extrinsics'),
                          ('near', 'near'), ('far', 'far')):
            arrays[f'{cam}_{name}'] = np.stack([np.asarray(o['frames'][cam][key]) for o in obs])
    np.savez(osp.join(folder, 'cameras_and_state.npz'), **arrays)
    meta = dict(made_by or {}, task=sim.task, seed=int(seed), success=True, steps=len(obs),
                cameras=cams, keyframes=arrays['keyframes'].tolist())
    tmp = osp.join(folder, 'episode.json.tmp')
    with open(tmp, 'w') as fh:
        json.dump(meta, fh, indent=1)
    os.replace(tmp, osp.join(folder, 'episode.json'))     # last: the episode is finished
    result['written'] = True
    return result
