"""``RLBenchAlignDataset``: paired RGB feature packs and point files of RLBench episodes."""
import logging
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from oneformer3d.engine.split_check import check_split
from oneformer3d.geometry import sample_img_feat
from oneformer3d.registry import DATASETS
from .feature_packs import open_packs

logger = logging.getLogger('oneformer3d')
FALLBACKS = ('random', 'skip', 'error')
ANCHORS = ('middle', 'random', 'first', 'last')


@DATASETS.register_module()
class RLBenchAlignDataset(Dataset):
    """Samples for point↔patch alignment (``task='point_patch'``) and RGB->PC distillation
    (``task='distill'``).

    A sample unit is one step (``sample_unit='step'``, T = 1) or a window of ``window``
    consecutive steps (``'window'``; its anchor step — whose point file is the teacher — is
    the ``anchor_in_window`` one: middle | random | first | last). Frames are paired across
    encoders by their ``step_XXXX`` name (``strict_pairing``); when an encoder's pack lacks a
    step, ``pairing_fallback`` decides: ``random`` (another random step of that pack), ``skip``
    (the sample is replaced by the next one; if every sample misses, a RuntimeError instead of
    an endless loop) or ``error`` (every sample's steps are checked in every pack when the
    dataset is built: a KeyError naming the pack and the step before training starts). A
    sample served through ``random`` or ``skip`` carries ``pairing_fallback=True`` in its
    ``data_samples``; :class:`~oneformer3d.engine.hooks.DataFallbackHook` logs the count per
    epoch (``self.fallback_counts`` counts in this process). Without strict pairing the
    pack's nearest step number is used.

    Returns per sample ``{'inputs': {...}, 'data_samples': {'episode', 'step'}}`` with
    ``inputs``:

    * distill: ``tokens`` {encoder: (T, K, C_e)} — ``num_tokens`` random grid cells per frame —
      and ``pc_feat`` (K_t, D) / ``xyz`` (K_t, 3) of ``num_points`` sampled points;
    * point_patch: ``patches`` {encoder: (P, C_e)} sampled bilinearly at each point's ``uv``
      (:func:`oneformer3d.geometry.sample_img_feat` with the pack's stride), ``valid`` (P,)
      (inside the anchor image and, when the point file has ``uv_valid``, not occluded),
      ``pc_feat`` (P, D), ``xyz`` (P, 3).

    Args:
        data_root: folder holding ``pack_root`` and ``pc_root``.
        task / episodes / encoders: what to read (``encoders``: pack names, or ``{name:
            channels}``, checked against each pack when the dataset is built); packs at
            ``<pack_root>/<encoder>/<task>/<episode>.<pack_store>``, point files at
            ``<pc_root>/<task>/<episode>/step_XXXX.ply.<pc_tag>.pt``.
        step_range: ``(start, stop)`` step numbers used (held-out split), None = all.
    """

    def __init__(self, data_root: str, task: str, episodes: Sequence[str],
                 encoders: Sequence[str], mode: str = 'distill', pack_root: str = 'packs',
                 pack_store: str = 'zarr', pc_root: str = 'pc_dataset/PC/teacher',
                 pc_tag: str = 'teacher', step_range: Optional[Sequence[int]] = None,
                 sample_unit: str = 'step', window: int = 8, window_stride: int = 4,
                 anchor_in_window: str = 'middle', num_points: int = 1024,
                 num_tokens: int = 64, strict_pairing: bool = True,
                 pairing_fallback: str = 'random', test_mode: bool = False,
                 lazy_init: bool = False, pipeline=None):
        if mode not in ('distill', 'point_patch'):
            raise ValueError(f"mode must be 'distill' or 'point_patch', got {mode!r}")
        if pairing_fallback not in FALLBACKS or anchor_in_window not in ANCHORS:
            raise ValueError(f'pairing_fallback in {FALLBACKS}, anchor_in_window in {ANCHORS}')
        if sample_unit not in ('step', 'window'):
            raise ValueError(f"sample_unit must be 'step' or 'window', got {sample_unit!r}")
        self.data_root, self.task, self.mode = data_root, task, mode
        self.encoders = list(encoders)
        self.episodes = check_split(episodes, f'{type(self).__name__}(episodes=...)')
        # {name: channels} (the model's adapter widths) is checked against the packs
        self.encoder_channels = dict(encoders) if isinstance(encoders, dict) else None
        self.pack_root, self.pack_store = osp.join(data_root, pack_root), pack_store
        self.pc_root, self.pc_tag = osp.join(data_root, pc_root), pc_tag
        self.sample_unit, self.window, self.window_stride = sample_unit, window, window_stride
        self.anchor, self.num_points, self.num_tokens = anchor_in_window, num_points, num_tokens
        self.strict, self.fallback = strict_pairing, pairing_fallback
        self.test_mode = test_mode
        self.metainfo = dict(task=task, encoders=self.encoders, mode=mode)
        self.fallback_counts = dict(random=0, skip=0)
        self._packs = {}
        self.units = []            # (episode, [step names])
        for ep in self.episodes:
            steps = self._steps(ep, step_range)
            if sample_unit == 'step':
                self.units += [(ep, [s]) for s in steps]
            else:
                for i in range(0, max(1, len(steps) - window + 1), window_stride):
                    self.units.append((ep, steps[i:i + window]))
        if not self.units:
            raise ValueError(f'{self.pc_root}: no sample for episodes {self.episodes} and '
                             f'step_range {step_range}')
        if self.encoder_channels is not None:
            self.check_channels()
        if self.strict and self.fallback == 'error':
            self.check_pairing()

    def check_channels(self) -> None:
        """Every episode's pack of each encoder has the configured channel count (else the
        adapter would fail mid-run with a shape error).

        Raises:
            ValueError: naming the pack, its channels and the config entry.
        """
        for ep in self.episodes:
            for enc, pack in self.packs(ep).items():
                c = int(pack.shape[-1])
                if c != self.encoder_channels[enc]:
                    raise ValueError(f'{pack.path}: {c} channels, the config says '
                                     f'encoders[{enc!r}] = {self.encoder_channels[enc]}; fix '
                                     f'the config (or rebuild the pack with that encoder)')

    def check_pairing(self) -> None:
        """Every step of every sample in every encoder's pack, checked once when the dataset
        is built (``pairing_fallback='error'``), so a gap fails before training, not mid-run.

        Raises:
            KeyError: naming the pack, the first missing step and how many are missing.
        """
        for ep in self.episodes:
            needed = sorted({s for e, steps in self.units if e == ep for s in steps})
            for enc, pack in self.packs(ep).items():
                missing = [s for s in needed if s not in pack]
                if missing:
                    raise KeyError(f'{pack.path}: no frame {missing[0]} ({len(missing)} of '
                                   f'{len(needed)} steps of episode {ep} missing; strict '
                                   f"pairing with pairing_fallback='error')")

    def _steps(self, episode: str, step_range) -> List[str]:
        folder = osp.join(self.pc_root, self.task, episode)
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder}: no point files '
                                    '(run tools/robot/prepare_rlbench.py)')
        import os
        steps = sorted(f.split('.')[0] for f in os.listdir(folder)
                       if f.endswith(f'.ply.{self.pc_tag}.pt'))
        if step_range is not None:
            lo, hi = step_range
            steps = [s for s in steps if lo <= int(s.split('_')[1]) < hi]
        return steps

    def __len__(self):
        return len(self.units)

    def packs(self, episode: str):
        return open_packs(self.pack_root, self.encoders, self.task, episode, self.pack_store,
                          self._packs)

    def _frame(self, pack, step: str, rng) -> Optional[torch.Tensor]:
        if step in pack:
            return pack.frame(step)
        if not self.strict:
            nearest = min(pack.steps, key=lambda s: abs(int(s.split('_')[1])
                                                      - int(step.split('_')[1])))
            return pack.frame(nearest)
        if self.fallback == 'error':
            raise KeyError(f'{pack.path}: no frame {step} (strict pairing)')
        if self.fallback == 'skip':
            return None
        self.fallback_counts['random'] += 1
        self._replaced += 1
        return pack.frame(pack.steps[rng.integers(len(pack.steps))])

    def _anchor(self, steps: List[str], rng) -> str:
        i = dict(middle=len(steps) // 2, first=0, last=len(steps) - 1).get(self.anchor)
        return steps[rng.integers(len(steps)) if i is None else i]

    def _load_points(self, episode: str, step: str) -> dict:
        path = osp.join(self.pc_root, self.task, episode, f'{step}.ply.{self.pc_tag}.pt')
        try:
            data = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:
            raise ValueError(f'{path}: unreadable point file ({type(err).__name__}: {err})') \
                from None
        for key in ('pc', 'uv'):
            if key not in data:
                raise ValueError(f'{path}: point file without {key!r}')
        return data

    def build(self, idx: int, rng) -> Optional[dict]:
        episode, steps = self.units[idx]
        self._replaced = 0
        anchor = self._anchor(steps, rng)
        packs = self.packs(episode)
        frames = {}
        for enc, pack in packs.items():
            use = steps if self.mode == 'distill' else [anchor]
            if all(s in pack for s in use):                  # the usual case: one read
                frames[enc] = pack.frames(use)               # (T, H_f, W_f, C)
                continue
            maps = [self._frame(pack, s, rng) for s in use]
            if any(m is None for m in maps):
                return None
            frames[enc] = torch.stack(maps)
        pts = self._load_points(episode, anchor)
        n = len(pts['pc'])
        pick = torch.from_numpy(rng.choice(n, self.num_points, replace=n < self.num_points))
        pc_feat = pts.get('pc_feat')
        inputs = dict(xyz=pts['pc'][pick, :3].float())
        if pc_feat is not None:
            inputs['pc_feat'] = pc_feat[pick].float()
        if self.mode == 'distill':
            inputs['tokens'] = {}
            for enc, f in frames.items():
                t, h, w, c = f.shape
                cells = torch.from_numpy(rng.choice(h * w, self.num_tokens,
                                                    replace=h * w < self.num_tokens))
                inputs['tokens'][enc] = f.reshape(t, h * w, c)[:, cells]
        else:
            inputs['patches'] = {}
            uv = pts['uv'][pick].float()
            size = pts.get('meta', {}).get('image_size')
            valid = pts['uv_valid'][pick].clone() if 'uv_valid' in pts else \
                torch.ones(len(uv), dtype=torch.bool)
            for enc, f in frames.items():
                meta = packs[enc].meta
                img_size = size or meta['image_size']
                feat, ok = sample_img_feat(f[0].permute(2, 0, 1), uv, img_size,
                                           stride=meta.get('stride'))
                inputs['patches'][enc] = feat.contiguous()
                valid &= ok
            inputs['valid'] = valid
        return dict(inputs=inputs, data_samples=dict(episode=episode, step=anchor,
                                                     pairing_fallback=self._replaced > 0))

    def __getitem__(self, idx: int) -> dict:
        rng = np.random.default_rng(None if not self.test_mode else idx)
        for attempt in range(len(self)):
            out = self.build((idx + attempt) % len(self), rng)
            if out is not None:
                # flagged when a frame was replaced ('random') or the sample stands in for a
                # skipped one ('skip'); DataFallbackHook counts the flags per epoch
                out['data_samples']['pairing_fallback'] |= attempt > 0
                return out
            self.fallback_counts['skip'] += 1
        raise RuntimeError(f'{self.pack_root}: every sample misses a step in some encoder '
                           f'pack ({self.encoders}) under strict pairing with '
                           f"pairing_fallback='skip'")
