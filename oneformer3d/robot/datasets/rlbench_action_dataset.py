"""``RLBenchActionDataset``: one sample per step — proprioception, the step's visual input and
the next-keyframe action target (stage 2 of the alignment study)."""
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import Compose
from torch.utils.data import Dataset

from oneformer3d.engine.split_check import check_split
from oneformer3d.registry import DATASETS
from .feature_packs import open_packs
from ..preprocessing.action_targets import select_targets
from ..preprocessing.rlbench import actions_path, step_name

INPUTS = ('pc', 'packs', 'image', 'proprio')


def proprio_vector(pose: np.ndarray, gripper_open: np.ndarray) -> np.ndarray:
    """(..., 8) float32: gripper xyz (m, world), quaternion xyzw (w >= 0), open (0/1)."""
    from ..preprocessing.keyframes import normalize_quaternion
    return np.concatenate([pose[..., :3], normalize_quaternion(pose[..., 3:7]),
                           np.asarray(gripper_open)[..., None]], axis=-1).astype(np.float32)


@DATASETS.register_module()
class RLBenchActionDataset(Dataset):
    """Steps of prepared RLBench episodes (``tools/robot/prepare_rlbench.py``) with their actions.

    Each sample: ``inputs = {'proprio': (8,) float32}`` plus, by ``input``:

    * ``'pc'``: ``points`` (K, 3 + D) float32 — xyz (m, world) and the point file's teacher
      ``pc_feat`` of ``num_points`` points (random in training, the first K of a fixed
      permutation in test mode);
    * ``'packs'``: ``tokens`` {encoder: (G·G, C_e)} float32 — the step's frame of each pack,
      average-pooled to a ``token_grid`` × ``token_grid`` grid (row-major);
    * ``'image'``: ``image`` (3, H, W) uint8 — the anchor camera's raw frame
      (``rgb_dataset/RGB/<task>/<episode>/step_XXXX.png``; stage 3's teacher and student);
    * ``'proprio'``: nothing else (the floor).

    ``data_samples``: ``episode``, ``step`` (int), ``target_trans`` (3,) m world (under the
    ``target`` rule, :mod:`~oneformer3d.robot.preprocessing.action_targets`),
    ``target_quat`` (4,) xyzw w >= 0, ``target_open`` () 0/1, ``is_keyframe`` () bool,
    ``trans`` (3,) the current gripper position.

    ``metainfo['const_trans']``: the mean target translation over ``const_episodes`` (the
    training episodes: the constant baseline of :class:`~oneformer3d.evaluation.ActionMetric`).

    Args:
        data_root: the prepare tool's ``--out-dir``.
        episodes: episode names (the split is by episode).
        input: ``'pc'`` | ``'packs'`` | ``'image'`` | ``'proprio'``.
        encoders: pack names (``'packs'``), or ``{name: channels}`` (checked when built).
        load_image: also return the raw frame with another input (stage 3 trains on the
            packs' tokens, which the teacher's encoders wrote, and the frame).
        target: the action-target rule, ``'next_keyframe'`` (default) or ``'expert_action'``
            (:mod:`~oneformer3d.robot.preprocessing.action_targets`).
        pipeline: optional transforms applied to each sample dict (mmengine ``Compose``;
            e.g. :class:`~oneformer3d.robot.datasets.transforms.ProprioNoise` in training).

    Raises:
        FileNotFoundError: an episode without its actions file (naming it and the command
            that writes it), a step without its point file (naming the file).
        KeyError: a pack without the step's frame (naming the pack and the step); an actions
            file without the arrays of ``target='expert_action'`` (naming it).
        ValueError: a pack whose channel count is not the configured one; an unknown
            ``target``.
    """

    def __init__(self, data_root: str, episodes: Sequence[str], input: str = 'pc',
                 task: str = 'open_drawer', encoders: Sequence[str] = (),
                 pack_root: str = 'packs', pack_store: str = 'zarr',
                 pc_root: str = 'pc_dataset/PC/teacher', pc_tag: str = 'teacher',
                 num_points: int = 512, token_grid: int = 4,
                 const_episodes: Optional[Sequence[str]] = None, load_image: bool = False,
                 target: str = 'next_keyframe', test_mode: bool = False,
                 lazy_init: bool = False, pipeline=None):
        if input not in INPUTS:
            raise ValueError(f'input must be one of {INPUTS}, got {input!r}')
        self.data_root, self.task, self.input, self.target = data_root, task, input, target
        self.episodes = check_split(episodes, f'{type(self).__name__}(episodes=...)')
        self.encoders = list(encoders)
        self.encoder_channels = dict(encoders) if isinstance(encoders, dict) else None
        self.pack_root, self.pack_store = osp.join(data_root, pack_root), pack_store
        self.pc_root, self.pc_tag = osp.join(data_root, pc_root), pc_tag
        self.num_points, self.token_grid, self.test_mode = num_points, token_grid, test_mode
        self.load_image = load_image or input == 'image'
        self.actions = {ep: self._load_actions(ep) for ep in self.episodes}
        self.units = [(ep, int(s)) for ep in self.episodes for s in self.actions[ep]['steps']]
        const_eps = list(const_episodes) if const_episodes else self.episodes
        trans = np.concatenate([(self.actions.get(ep) or self._load_actions(ep))['target_trans']
                                for ep in const_eps])
        self.metainfo = dict(task=task, input=input, const_trans=trans.mean(0).tolist(),
                             episodes=self.episodes, target=target)
        self._packs = {}
        self.pipeline = Compose(pipeline or [])
        if input == 'packs' and self.encoder_channels is not None:
            for ep in self.episodes:
                for enc, pack in open_packs(self.pack_root, self.encoders, task, ep,
                                            pack_store, self._packs).items():
                    if int(pack.shape[-1]) != self.encoder_channels[enc]:
                        raise ValueError(f'{pack.path}: {int(pack.shape[-1])} channels, the '
                                         f'config says encoders[{enc!r}] = '
                                         f'{self.encoder_channels[enc]}')

    def _load_actions(self, episode: str) -> Dict[str, np.ndarray]:
        path = actions_path(self.data_root, self.task, episode)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no actions file for {episode} (run '
                                    f'tools/robot/prepare_rlbench.py for that episode)')
        with np.load(path) as npz:
            act = {k: npz[k] for k in npz.files}
        act.update(select_targets(act, self.target, path))
        return act

    def __len__(self):
        return len(self.units)

    def full_init(self):
        """mmengine's lazy-init hook (this dataset is built eagerly)."""

    def _points(self, episode: str, step: int, index: int) -> torch.Tensor:
        path = osp.join(self.pc_root, self.task, episode,
                        f'{step_name(step)}.ply.{self.pc_tag}.pt')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no point file for {episode} step {step}')
        data = torch.load(path, map_location='cpu', weights_only=True)
        n = len(data['pc'])
        if self.test_mode:        # the same points of a step on every pass
            order = torch.randperm(n, generator=torch.Generator().manual_seed(index))
        else:
            order = torch.randperm(n)
        order = order[:self.num_points]
        return torch.cat([data['pc'][order, :3].float(), data['pc_feat'][order].float()], 1)

    def _tokens(self, episode: str, step: int) -> Dict[str, torch.Tensor]:
        out = {}
        packs = open_packs(self.pack_root, self.encoders, self.task, episode, self.pack_store,
                           self._packs)
        for enc, pack in packs.items():
            grid = pack.frame(step_name(step)).permute(2, 0, 1)[None]     # (1, C, H, W)
            pooled = F.adaptive_avg_pool2d(grid, self.token_grid)[0]
            out[enc] = pooled.flatten(1).t().contiguous()                # (G*G, C)
        return out

    def _image(self, episode: str, step: int) -> torch.Tensor:
        from PIL import Image
        path = osp.join(self.data_root, 'rgb_dataset', 'RGB', self.task, episode,
                        f'{step_name(step)}.png')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no frame for {episode} step {step}')
        img = np.array(Image.open(path).convert('RGB'))
        return torch.from_numpy(img).permute(2, 0, 1).contiguous()

    def __getitem__(self, index: int) -> dict:
        episode, step = self.units[index]
        act = self.actions[episode]
        i = int(np.searchsorted(act['steps'], step))
        inputs = dict(proprio=torch.from_numpy(proprio_vector(act['gripper_pose'][i],
                                                              act['gripper_open'][i])))
        if self.input == 'pc':
            inputs['points'] = self._points(episode, step, index)
        elif self.input == 'packs':
            inputs['tokens'] = self._tokens(episode, step)
        if self.load_image:
            inputs['image'] = self._image(episode, step)
        sample = dict(episode=episode, step=step,
                      target_trans=torch.from_numpy(act['target_trans'][i]),
                      target_quat=torch.from_numpy(act['target_quat'][i]),
                      target_open=torch.tensor(float(act['target_open'][i])),
                      is_keyframe=torch.tensor(bool(np.isin(step, act['keyframes']))),
                      trans=torch.from_numpy(act['gripper_pose'][i, :3].astype(np.float32)))
        return self.pipeline(dict(inputs=inputs, data_samples=sample))
