"""``MetaWorldTask``: one Meta-World v3 task (MT1, one task, a new object layout per seed) with
RGB-D cameras, proprioception and the task's scripted expert.

Meta-World (Yu et al. 2019; ``metaworld`` 3.1, ``metaworld/env_dict.py``): each task class
draws its object and goal positions from ``_random_reset_space`` at reset. Here a seed fixes
them: ``env.seed(seed)`` then one reset with the draw unfrozen and ``seeded_rand_vec`` set
(the draw comes from the environment's own ``np_random``), then frozen — the same layout for
the same seed on every machine and process. The observation is Meta-World's goal-observable
vector (hand xyz, finger opening, object poses, goal); only the expert reads the object part.

Proprioception (the RLBench layout's): ``gripper_pose`` (7,) hand body xyz (m, world) +
quaternion xyzw (MuJoCo's ``xquat`` is wxyz); ``gripper_open`` 1/0 — the last commanded grab
effort (Meta-World's 4th action: +1 closes, -1 opens) was <= 0 / > 0, 1 at reset;
``joint_velocities`` (7,) rad/s of the Sawyer arm joints ``right_j0..6``.
"""
from typing import Dict, List, Sequence

import numpy as np

ARM_JOINTS = tuple(f'right_j{i}' for i in range(7))
# the defaults of every sim tool (one place): cameras fused into the point cloud (the first is
# the anchor, whose RGB frames feed the RGB routes), image side, and the workspace crop (m,
# world: the table's free space around every v3 task's objects, table top z = 0 left out)
CAMERAS = ('corner2', 'corner3')
IMAGE_SIZE = 96
WORKSPACE = (-0.55, 0.55, 0.3, 1.05, 0.01, 0.6)


def parse_seeds(spec: str) -> list:
    """``'A-B'`` (inclusive) or ``'A,B,C'`` -> list of ints; raises ValueError otherwise."""
    try:
        if '-' in spec.strip('-'):
            a, b = spec.split('-', 1)
            seeds = list(range(int(a), int(b) + 1))
        else:
            seeds = [int(s) for s in spec.split(',')]
    except ValueError:
        raise ValueError(f'seeds must be A-B or A,B,C (non-negative integers), got {spec!r}') \
            from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f'seeds must be A-B with 0 <= A <= B, or A,B,C, got {spec!r}')
    return seeds


def task_names() -> List[str]:
    """Every Meta-World v3 task name (``drawer-open-v3``, ...)."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    return list(ALL_V3_ENVIRONMENTS)


def check_task(task: str) -> None:
    """Raises ValueError naming the valid tasks when ``task`` is not a Meta-World v3 task."""
    names = task_names()
    if task not in names:
        raise ValueError(f'unknown Meta-World task {task!r}; the v3 tasks are: '
                         f'{", ".join(sorted(names))}')


class MetaWorldTask:
    """One task's environment, cameras and scripted expert.

    Args:
        task: a Meta-World v3 name (``drawer-open-v3``).
        cameras: MuJoCo camera names to render (``corner2``, ``corner3``, ``topview``, ...).
        image_size: square image side (pixels).
        max_steps: episode limit (default: Meta-World's ``max_path_length``, 500).

    Raises:
        ValueError: an unknown task (listing the valid ones).
        KeyError: an unknown camera (listing the model's).
        (Importing :mod:`oneformer3d.robot.sim` raises RuntimeError when no off-screen
        rendering backend works, :func:`~.gl_backend.select_gl_backend`.)
    """

    def __init__(self, task: str, cameras: Sequence[str] = ('corner2',), image_size: int = 96,
                 max_steps: int = None):
        check_task(task)
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS
        from metaworld.policies import ENV_POLICY_MAP
        from .mujoco_camera import MujocoCameras
        self.task = task
        self.env = ALL_V3_ENVIRONMENTS[task]()
        self.env._partially_observable = False        # goal-observable: the expert needs it
        # the observation bounds were cached while the goal was hidden (goal clipped to 0):
        # recompute them, as metaworld's goal-observable classes do (env_dict.py)
        self.env.__dict__.pop('sawyer_observation_space', None)
        self.env._set_task_called = True
        self.env.seeded_rand_vec = True
        self.max_steps = int(max_steps or self.env.max_path_length)
        self.action_scale = float(self.env.action_scale)   # m of mocap motion per unit action
        self.expert = ENV_POLICY_MAP[task]()
        self.cameras = MujocoCameras(self.env.model, cameras, image_size, image_size)
        self._arm_dofs = [self.env.model.joint(j).dofadr[0] for j in ARM_JOINTS]
        self._obs, self.seed, self.steps, self.gripper_open = None, None, 0, 1.0

    def reset(self, seed: int) -> Dict:
        """A new episode whose layout is fixed by ``seed``; returns :meth:`observe`."""
        env = self.env
        env.seed(int(seed))
        env._freeze_rand_vec = False
        self._obs, _ = env.reset()
        env._freeze_rand_vec = True
        self.seed, self.steps, self.gripper_open = int(seed), 0, 1.0
        self.success = False
        return self.observe()

    def expert_action(self) -> np.ndarray:
        """(4,) float32: the scripted expert's action for the current state."""
        return np.asarray(self.expert.get_action(self._obs), dtype=np.float32)

    def step(self, action: np.ndarray) -> Dict:
        """Apply a (4,) action (xyz delta in [-1, 1] = ±1 cm, grab effort); returns
        :meth:`observe`. ``self.success`` becomes True once the task's success test holds."""
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        self._obs, _, _, _, info = self.env.step(action)
        self.steps += 1
        self.gripper_open = 0.0 if action[3] > 0 else 1.0
        self.success = self.success or bool(info.get('success', 0.0))
        return self.observe()

    @property
    def done(self) -> bool:
        return self.success or self.steps >= self.max_steps

    def hand_position(self) -> np.ndarray:
        """(3,) float64 hand xyz (m, world): Meta-World's observation (the expert's input)."""
        return np.asarray(self._obs[:3], dtype=np.float64)

    def observe(self) -> Dict:
        """``{'frames': MujocoCameras.render(...), 'gripper_pose': (7,) float64,
        'gripper_open': float, 'joint_velocities': (7,) float64}``."""
        data = self.env.data
        hand = data.body('hand')
        wxyz = np.asarray(hand.xquat, dtype=np.float64)
        pose = np.concatenate([np.asarray(hand.xpos, dtype=np.float64), wxyz[1:], wxyz[:1]])
        return dict(frames=self.cameras.render(data), gripper_pose=pose,
                    gripper_open=self.gripper_open,
                    joint_velocities=np.asarray(data.qvel[self._arm_dofs], dtype=np.float64))

    def close(self) -> None:
        self.cameras.close()
        self.env.close()
