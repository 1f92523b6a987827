"""What the stage-2 head is trained to predict at each step: the action-target rule.

Two rules, chosen by ``RLBenchActionDataset(target=...)`` (a config field, so the closed loop
reads it from the run's config, :class:`~oneformer3d.robot.sim.closed_loop.SimPolicy`):

* ``'next_keyframe'`` (default; PerAct / RVT / 3D Diffuser Actor): the gripper pose at the
  next keyframe (:func:`~.keyframes.next_keyframe_targets`), a waypoint that a controller of
  a chosen gain moves to. The prepared actions file holds these targets.
* ``'expert_action'`` (dense behaviour cloning: the demonstrator's own action at every step,
  as Meta-World's behaviour-cloning baselines learn it; Yu et al., CoRL 2019): the position the
  expert's action commands from the current hand, ``hand + action_scale · clip(a_xyz, −1, 1)``
  (m, world; Meta-World moves its mocap by ``action_scale`` = 0.01 m per unit action,
  ``SawyerXYZEnv.set_xyz_action``), the current orientation, and open = (grab effort <= 0).
  A proportional controller of gain ``1 / action_scale`` (:func:`controller_gain`) then replays
  the action: ``clip((target − hand) / action_scale) = clip(a)``. The prepared actions file
  carries ``expert_actions`` and ``action_scale`` for this (simulated demos,
  ``tools/robot/collect_sim_demos.py``; RLBench exports have no per-step actions).
"""
from typing import Dict, Optional

import numpy as np

from .keyframes import normalize_quaternion

TARGET_RULES = ('next_keyframe', 'expert_action')


def expert_action_targets(gripper_pose: np.ndarray, expert_actions: np.ndarray,
                          action_scale: float) -> Dict[str, np.ndarray]:
    """Per-step targets of the ``'expert_action'`` rule (module docstring).

    Args:
        gripper_pose: (n, 7) xyz (m, world) + quaternion xyzw per step.
        expert_actions: (n, 4) the expert's action per step: xyz (clipped to [−1, 1] as the
            environment clips it) and grab effort (> 0 closes).
        action_scale: metres per unit of action (Meta-World: 0.01).

    Returns:
        ``{'trans' (n, 3) float32, 'quat' (n, 4) float32 xyzw (w >= 0), 'open' (n,) float32}``.

    Raises:
        ValueError: mismatched lengths, an action that is not 4 numbers, a non-positive scale.
    """
    pose = np.asarray(gripper_pose, dtype=np.float64)
    act = np.asarray(expert_actions, dtype=np.float64)
    if act.ndim != 2 or act.shape[1] != 4 or len(act) != len(pose) or not action_scale > 0:
        raise ValueError(f'expert_action_targets: poses {pose.shape}, actions {act.shape} '
                         f'(n, 4) expected, action_scale {action_scale} (> 0 expected)')
    return dict(trans=(pose[:, :3] + action_scale * np.clip(act[:, :3], -1, 1)
                       ).astype(np.float32),
                quat=normalize_quaternion(pose[:, 3:7]).astype(np.float32),
                open=(act[:, 3] <= 0).astype(np.float32))


def select_targets(actions: Dict[str, np.ndarray], rule: str, path: str
                   ) -> Dict[str, np.ndarray]:
    """``{'target_trans', 'target_quat', 'target_open'}`` of a prepared actions file under
    ``rule``.

    Raises:
        ValueError: an unknown rule.
        KeyError: ``'expert_action'`` on a file without ``expert_actions`` / ``action_scale``
            (naming ``path`` and what writes them).
    """
    if rule not in TARGET_RULES:
        raise ValueError(f'target must be one of {TARGET_RULES}, got {rule!r}')
    if rule == 'next_keyframe':
        return {k: actions[k] for k in ('target_trans', 'target_quat', 'target_open')}
    missing = [k for k in ('expert_actions', 'action_scale') if k not in actions]
    if missing:
        raise KeyError(f'{path}: no {missing} for target="expert_action" (only simulated demos '
                       f'have per-step actions: collect them with tools/robot/'
                       f'collect_sim_demos.py and prepare them with tools/robot/'
                       f'prepare_rlbench.py)')
    out = expert_action_targets(actions['gripper_pose'], actions['expert_actions'],
                                float(actions['action_scale']))
    return dict(target_trans=out['trans'], target_quat=out['quat'], target_open=out['open'])


def controller_gain(rule: str, actions_file: str) -> Optional[float]:
    """The closed loop's controller gain a rule fixes: ``1 / action_scale`` for
    ``'expert_action'`` (the action replayed; the scale read from ``actions_file``, a prepared
    actions file of the run's training data), None for ``'next_keyframe'`` (a free choice; the
    file is not read).

    Raises:
        ValueError: an unknown rule; ``'expert_action'`` with a file lacking a positive
            ``action_scale`` (naming it).
    """
    if rule not in TARGET_RULES:
        raise ValueError(f'target must be one of {TARGET_RULES}, got {rule!r}')
    if rule == 'next_keyframe':
        return None
    with np.load(actions_file) as npz:
        scale = float(npz['action_scale']) if 'action_scale' in npz.files else None
    if not scale or scale <= 0:
        raise ValueError(f'{actions_file}: target="expert_action" needs the demos\' '
                         f'action_scale, got {scale}')
    return 1.0 / scale
