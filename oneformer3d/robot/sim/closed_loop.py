"""Closed-loop rollouts of a trained policy in a :class:`~.metaworld_env.MetaWorldTask`.

Action interface (one for every input of a table; docs/robot_sim.md): at every step the policy
predicts a target hand position and gripper state from the live observation; a proportional
controller moves toward it, as Meta-World's scripted experts do (``metaworld/policies``:
``move(from, to, p)``): ``delta = clip(gain · (target − hand), −1, 1)`` (±1 = ±1 cm per
step), grab effort −1 (open) when ``P(open) >= 0.5`` else +1. What the target is follows the
rule the run's head learnt (the dataset's ``target``,
:mod:`~oneformer3d.robot.preprocessing.action_targets`):

* ``'expert_action'`` (dense behaviour cloning): the position the expert's action at this step
  commands; the rule fixes the gain at ``1 / action_scale`` (:attr:`SimPolicy.gain`), so a
  perfect head replays the expert's actions.
* ``'next_keyframe'``: the hand pose at the next keyframe, the gain a free choice. Re-planning
  every step keeps the loop closed; the demos' keyframes are the expert's waypoint switches
  (:func:`~.demos.sim_keyframes`), so the target is the current phase's goal, observable from
  the scene (a fixed-stride keyframe would make the target depend on the unobservable step
  count within the stride — measured: every input then crawled toward the hand itself).

Observation -> policy input, exactly as the training data was made
(:mod:`~oneformer3d.robot.preprocessing.prepare_settings`): ``pc`` — the cameras' fused cloud
(:func:`~oneformer3d.robot.preprocessing.rlbench.fuse_views`, the prepare tool's workspace),
``num_points`` kept at random, the saved point teacher's features, then the dataset's ``K``
points; ``rgb_aligned`` / ``rgb`` — the anchor frame through the pack encoders (same configs,
seed, input size), average-pooled to the dataset's token grid; ``student`` — the anchor frame
through the stage-3 student; ``proprio`` — nothing but proprioception. A step whose cloud is
empty inside the workspace holds still (zero motion, the last gripper command) and is counted.
"""
import copy
import math
import time
from typing import Optional

import numpy as np
import torch

from oneformer3d.registry import MODELS
from ..datasets.rlbench_action_dataset import proprio_vector
from ..models.policy.rgb_teacher import pooled_tokens
from ..preprocessing.prepare_settings import (build_pack_encoders, load_prepare_args,
                                              load_teacher, pack_encoder_configs)
from ..preprocessing.action_targets import controller_gain
from ..preprocessing.rlbench import actions_path, fuse_views

INPUTS = ('pc', 'rgb_aligned', 'rgb', 'proprio', 'student')


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple:
    """Wilson score interval of a binomial proportion (Wilson 1927; 95 % for the default z).

    Returns ``(low, high)`` in [0, 1]; ``(0, 1)`` for zero trials.
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    den = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / den
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


class SimPolicy:
    """A trained policy of one input route, fed from live observations.

    Args:
        input: one of :data:`INPUTS`.
        cfg: the run's config (mmengine ``Config``; its ``model`` and ``train_dataloader``).
        checkpoint: the run's checkpoint (loaded strictly, :func:`~oneformer3d.utils.
            load_report.load_file_checked`).
        data_root: the prepared data the run trained on (its ``prepare_args.json``).

    Attributes:
        gain: the controller gain the run's target rule fixes (``1 / action_scale`` for
            ``'expert_action'``), None when the caller chooses (``'next_keyframe'``).

    Raises:
        ValueError: an unknown input; a checkpoint that does not fit the model (named);
            ``'expert_action'`` targets whose actions file lacks ``action_scale`` (named).
        FileNotFoundError: the data root lacks its settings or teacher weights (named).
    """

    def __init__(self, input: str, cfg, checkpoint: str, data_root: str):
        from oneformer3d.utils.load_report import load_file_checked
        if input not in INPUTS:
            raise ValueError(f'input must be one of {INPUTS}, got {input!r}')
        self.input = input
        prep = load_prepare_args(data_root)
        self.anchor, self.cameras = prep['anchor'], list(prep['cameras'])
        self.workspace, self.num_points = prep.get('workspace'), int(prep['num_points'])
        ds = cfg.train_dataloader.dataset
        self.k, self.grid = int(ds.get('num_points', 512)), int(ds.get('token_grid', 4))
        # the target rule the head learnt fixes the controller gain (None: the caller's)
        self.target = ds.get('target', 'next_keyframe')
        self.gain = controller_gain(self.target,
                                    actions_path(data_root, ds.task, ds.episodes[0]))
        model_cfg = copy.deepcopy(cfg.model)
        if input == 'student':          # the distiller checkpoint holds the teacher's policy
            model_cfg.teacher.policy_checkpoint = None
        elif model_cfg.get('token_encoder') and 'checkpoint' in model_cfg.token_encoder:
            model_cfg.token_encoder.checkpoint = None     # the policy checkpoint holds them
        self.model = MODELS.build(model_cfg).eval()
        load_file_checked(self.model, checkpoint, strict=True)
        self.model.requires_grad_(False)
        self.head = self.model.teacher.head if input == 'student' else self.model.head
        if input == 'pc':
            self.teacher = load_teacher(data_root, prep)
        if input in ('rgb_aligned', 'rgb'):
            configs = pack_encoder_configs(prep['pack_encoders'], prep['pack_weights'],
                                           prep['short_side'])
            names = self.model.token_encoder.names
            missing = [n for n in names if n not in configs]
            if missing:
                raise ValueError(f'{data_root}: the policy reads packs {names}, the data root '
                                 f'was prepared with {list(configs)}')
            self.encoders = build_pack_encoders({n: configs[n] for n in names}, prep['seed'])

    def _image(self, obs: dict) -> torch.Tensor:
        rgb = obs['frames'][self.anchor]['rgb']
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]

    @torch.no_grad()
    def __call__(self, obs: dict, rng: np.random.Generator) -> Optional[dict]:
        """One observation (:meth:`MetaWorldTask.observe`) -> ``{'trans': (3,) m world,
        'open_prob': float}``, or None when the ``pc`` input's cloud is empty."""
        proprio = torch.from_numpy(proprio_vector(np.asarray(obs['gripper_pose']),
                                                  np.float32(obs['gripper_open'])))[None]
        tokens = positions = None
        if self.input == 'pc':
            pc = fuse_views([obs['frames'][c] for c in self.cameras], workspace=self.workspace)
            if len(pc) == 0:
                return None
            if len(pc) > self.num_points:
                pc = pc[np.sort(rng.choice(len(pc), self.num_points, replace=False))]
            pts = torch.from_numpy(pc)
            feat = self.teacher(pts).float()
            order = torch.from_numpy(rng.permutation(len(pc))[:self.k])
            inputs = dict(points=torch.cat([pts[order, :3], feat[order]], 1)[None])
            tokens = self.model.token_encoder(inputs)
            positions = self.model.token_encoder.positions(inputs, tokens)
        elif self.input in ('rgb_aligned', 'rgb'):
            img = self._image(obs)
            packs = {n: pooled_tokens(enc(img)['pix'], self.grid)
                     for n, enc in self.encoders.items()}
            tokens = self.model.token_encoder(dict(tokens=packs))
            positions = self.model.token_encoder.positions({}, tokens)
        elif self.input == 'student':
            tokens = self.model.student(self._image(obs))
            positions = self.model.positions(tokens)
        out = self.head.decode(self.head(proprio.float(), tokens, positions))
        return dict(trans=out['trans'][0].numpy().astype(np.float64),
                    open_prob=float(out['open_prob'][0]))


class ExpertPolicy:
    """The task's scripted expert as a row of the table (reference, not a learned input)."""

    gain = None            # its actions are applied as they are

    def __init__(self, sim):
        self.sim = sim

    def __call__(self, obs, rng):
        return dict(action=self.sim.expert_action())


def rollout(sim, policy, seed: int, gain: float = 10.0, record_camera: Optional[str] = None
            ) -> dict:
    """One episode of ``policy`` on ``seed`` (module docstring: the controller).

    Returns:
        ``{'seed', 'success', 'steps', 'policy_ms' (mean per step), 'empty_cloud_steps',
        'frames'}`` (``frames``: the ``record_camera`` RGB per step, else empty).
    """
    rng = np.random.default_rng(seed)
    obs = sim.reset(seed)
    times, frames, empty, effort = [], [], 0, -1.0
    while not sim.done:
        if record_camera:
            frames.append(obs['frames'][record_camera]['rgb'])
        t0 = time.perf_counter()
        out = policy(obs, rng)
        times.append(time.perf_counter() - t0)
        if out is None:
            empty += 1
            action = np.array([0.0, 0.0, 0.0, effort])
        elif 'action' in out:
            action = out['action']
        else:
            effort = -1.0 if out['open_prob'] >= 0.5 else 1.0
            delta = np.clip(gain * (out['trans'] - obs['gripper_pose'][:3]), -1.0, 1.0)
            action = np.concatenate([delta, [effort]])
        obs = sim.step(action)
    if record_camera:
        frames.append(obs['frames'][record_camera]['rgb'])
    return dict(seed=int(seed), success=bool(sim.success), steps=int(sim.steps),
                policy_ms=1000 * float(np.mean(times)) if times else 0.0,
                empty_cloud_steps=empty, frames=frames)
