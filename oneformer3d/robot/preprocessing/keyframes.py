"""Keyframes of a demonstration and each step's next-keyframe action target.

The keyframe rule of ARM / PerAct (``helpers/demo_loading_utils.py``: ``_is_stopped`` and
``keypoint_discovery``), which RVT and 3D Diffuser Actor reuse, written from its description
(``../shared/REFERENCES.md``). Step ``i`` of an ``n``-step demo is a keyframe when ``i > 0`` and

1. the gripper open state changes (``open[i] != open[i-1]``), or
2. ``i`` is the last step, or
3. the arm is *stopped*: every joint velocity within ``atol=0.1`` of zero
   (``np.allclose(v, 0, atol=0.1)``), the gripper state unchanged over ``i-2 .. i+1``, ``i`` is
   neither of the last two steps, and at least 4 steps have passed since the previous stop
   (a buffer set to 4 at each stop and decreased by one every step).

A keyframe immediately before the last one (``kf[-2] == kf[-1] - 1``) is dropped. Upstream
indexes ``open[i-2]`` with Python's wrap-around for ``i < 2``; here a stop needs ``i >= 2``
(the same keyframes on every RLBench demo whose first and last gripper states differ, and a
stop in the first two steps is not a keyframe anyway: nothing has happened).

Targets (PerAct / RVT / 3D Diffuser Actor): each step's action is the gripper pose at the
next keyframe strictly after it (the last step, itself a keyframe, takes its own pose):
translation (m, world frame), rotation quaternion ``xyzw`` normalised to unit length with
``w >= 0`` (q and −q are the same rotation), gripper open (0/1).
"""
from typing import Dict, List

import numpy as np

STOP_ATOL = 0.1
STOP_BUFFER = 4


def find_keyframes(gripper_open: np.ndarray, joint_velocities: np.ndarray,
                   atol: float = STOP_ATOL, buffer: int = STOP_BUFFER) -> List[int]:
    """Keyframe step indices of one demo (rule in the module docstring).

    Args:
        gripper_open: (n,) gripper open state per step (0/1, any numeric dtype).
        joint_velocities: (n, J) joint velocities per step (rad/s).

    Returns:
        Sorted step indices; always ends with ``n - 1``.

    Raises:
        ValueError: mismatched lengths or an empty demo.
    """
    go = np.asarray(gripper_open).astype(np.float64).round()
    vel = np.asarray(joint_velocities, dtype=np.float64)
    n = len(go)
    if n == 0 or len(vel) != n:
        raise ValueError(f'find_keyframes: {n} gripper states vs {len(vel)} velocity rows')
    keyframes, wait = [], 0
    for i in range(n):
        unchanged = 2 <= i < n - 2 and go[i] == go[i + 1] == go[i - 1] == go[i - 2]
        stopped = wait <= 0 and unchanged and np.allclose(vel[i], 0, atol=atol)
        wait = buffer if stopped else wait - 1
        if i > 0 and (go[i] != go[i - 1] or i == n - 1 or stopped):
            keyframes.append(i)
    if len(keyframes) > 1 and keyframes[-2] == keyframes[-1] - 1:
        del keyframes[-2]
    return keyframes


def normalize_quaternion(q: np.ndarray) -> np.ndarray:
    """(..., 4) ``xyzw`` -> unit length with ``w >= 0``.

    Raises:
        ValueError: a zero-length quaternion.
    """
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if (norm < 1e-12).any():
        raise ValueError('normalize_quaternion: zero-length quaternion')
    q = q / norm
    return np.where(q[..., 3:4] < 0, -q, q)


def next_keyframe_targets(gripper_pose: np.ndarray, gripper_open: np.ndarray,
                          keyframes: List[int]) -> Dict[str, np.ndarray]:
    """Each step's target: the gripper state at the next keyframe after it.

    Args:
        gripper_pose: (n, 7) ``xyz`` (m, world) + quaternion ``xyzw`` per step.
        gripper_open: (n,) 0/1.
        keyframes: from :func:`find_keyframes` (must end with ``n - 1``).

    Returns:
        ``{'target_index' (n,) int64, 'trans' (n, 3) float32, 'quat' (n, 4) float32 xyzw
        (w >= 0), 'open' (n,) float32}``.
    """
    pose = np.asarray(gripper_pose, dtype=np.float64)
    n = len(pose)
    if not keyframes or keyframes[-1] != n - 1:
        raise ValueError(f'next_keyframe_targets: keyframes must end with the last step '
                         f'{n - 1}, got {keyframes}')
    kf = np.asarray(keyframes)
    idx = kf[np.minimum(np.searchsorted(kf, np.arange(n), side='right'), len(kf) - 1)]
    return dict(target_index=idx.astype(np.int64),
                trans=pose[idx, :3].astype(np.float32),
                quat=normalize_quaternion(pose[idx, 3:7]).astype(np.float32),
                open=np.asarray(gripper_open, dtype=np.float32)[idx].round())
