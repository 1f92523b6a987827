"""Feature packs: one encoder's per-frame 2D features of one episode, windowed.

A pack holds ``per_frame_features`` (W, T, H_f, W_f, C) — W windows of T consecutive frames
taken at a stride (frames may repeat across windows) —, ``frame_paths`` (W lists of T image
paths; the ``step_XXXX`` stem pairs frames strictly across encoders and with the point
files) and ``meta`` (encoder, input size, resize/crop, patch size, stride in original image
pixels: enough to map a point's ``uv`` to the grid with
:func:`oneformer3d.geometry.sample_img_feat`).

Stores: ``.pt`` (``torch.save`` of the dict; legacy variants accepted on load: keys
``features``/``feats`` for the array, ``paths``/``frames`` for the paths, a missing meta) and
``.zarr`` (zarr v3 group, array ``per_frame_features`` chunked one frame per chunk
``(1, 1, H_f, W_f, C)``, paths and meta in the attributes) — one frame reads in milliseconds
without loading the episode.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

FEATURE_KEYS = ('per_frame_features', 'features', 'feats')
PATH_KEYS = ('frame_paths', 'paths', 'frames')


def make_windows(num_frames: int, window: int = 8, stride: int = 4) -> List[List[int]]:
    """Frame indices of windows of ``window`` consecutive frames every ``stride`` frames; the
    last window ends at the last frame, so every frame is in at least one window."""
    if num_frames < window:
        raise ValueError(f'{num_frames} frames are fewer than one window of {window}')
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] != num_frames - window:
        starts.append(num_frames - window)
    return [list(range(s, s + window)) for s in starts]


def step_of(path: str) -> str:
    """``step_XXXX`` (the pairing key) of a frame path."""
    return osp.splitext(osp.basename(path))[0].split('.')[0]


def write_pack(path: str, features: torch.Tensor, frame_paths: Sequence[Sequence[str]],
               meta: dict) -> int:
    """Write a pack to ``.pt`` or ``.zarr`` (by extension); returns bytes on disk.

    Args:
        features: (W, T, H_f, W_f, C) float (stored fp16).
        frame_paths: W lists of T paths.
    """
    feats = features.detach().to('cpu', torch.float16).contiguous()
    if feats.dim() != 5 or feats.shape[:2] != (len(frame_paths), len(frame_paths[0])):
        raise ValueError(f'{path}: features {tuple(feats.shape)} do not match '
                         f'{len(frame_paths)} windows of {len(frame_paths[0])} paths')
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    paths = [list(map(str, w)) for w in frame_paths]
    if path.endswith('.pt'):
        torch.save(dict(per_frame_features=feats, frame_paths=paths, meta=meta), path)
        return osp.getsize(path)
    if not path.endswith('.zarr'):
        raise ValueError(f'{path}: pack path must end in .pt or .zarr')
    import zarr
    group = zarr.open_group(path, mode='w')
    arr = group.create_array('per_frame_features', shape=tuple(feats.shape), dtype='float16',
                             chunks=(1, 1) + tuple(feats.shape[2:]))
    arr[...] = feats.numpy()
    group.attrs.update(frame_paths=paths, meta=meta)
    return sum(osp.getsize(osp.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


class FeaturePack:
    """Read one pack; frames are addressed by their ``step_XXXX`` name.

    The zarr store is opened lazily and re-opened after a fork (each DataLoader worker keeps
    its own handle). ``.pt`` packs are loaded whole on first access (that is the cost the zarr
    store avoids).

    Raises:
        FileNotFoundError / ValueError: naming the pack when it is missing or malformed.
    """

    def __init__(self, path: str):
        if not osp.exists(path):
            raise FileNotFoundError(f'{path}: feature pack not found')
        self.path = path
        self.is_zarr = path.endswith('.zarr')
        self._handle, self._pid = None, None
        if self.is_zarr:
            import zarr
            group = zarr.open_group(path, mode='r')
            if 'per_frame_features' not in group:
                raise ValueError(f'{path}: zarr pack without per_frame_features')
            self.frame_paths = group.attrs['frame_paths']
            self.meta = dict(group.attrs.get('meta', {}))
            self.shape = tuple(group['per_frame_features'].shape)
        else:
            data = self._load_pt()
            self.frame_paths, self.meta = data['frame_paths'], data['meta']
            self.shape = tuple(data['per_frame_features'].shape)
        self.index: Dict[str, Tuple[int, int]] = {}
        for w, window in enumerate(self.frame_paths):
            for t, p in enumerate(window):
                self.index.setdefault(step_of(p), (w, t))

    def _load_pt(self) -> dict:
        try:
            obj = torch.load(self.path, map_location='cpu', weights_only=True)
        except Exception as err:
            raise ValueError(f'{self.path}: unreadable pack ({type(err).__name__}: {err})') \
                from None
        if not isinstance(obj, dict):
            raise ValueError(f'{self.path}: expected a dict pack, got {type(obj).__name__}')
        feats = next((obj[k] for k in FEATURE_KEYS if k in obj), None)
        paths = next((obj[k] for k in PATH_KEYS if k in obj), None)
        if not isinstance(feats, torch.Tensor) or feats.dim() != 5 or paths is None:
            raise ValueError(f'{self.path}: needs a (W, T, H, W, C) tensor under one of '
                             f'{FEATURE_KEYS} and frame paths under one of {PATH_KEYS}')
        self._handle = feats
        return dict(per_frame_features=feats, frame_paths=[list(w) for w in paths],
                    meta=dict(obj.get('meta') or {}))

    @property
    def steps(self) -> List[str]:
        return list(self.index)

    def __contains__(self, step: str) -> bool:
        return step in self.index

    def array(self):
        """The (W, T, H_f, W_f, C) store (a zarr array or a tensor)."""
        if self.is_zarr:
            if self._handle is None or self._pid != os.getpid():
                import zarr
                self._handle = zarr.open_group(self.path, mode='r')['per_frame_features']
                self._pid = os.getpid()
            return self._handle
        if self._handle is None:
            self._load_pt()
        return self._handle

    def window(self, w: int) -> torch.Tensor:
        """(T, H_f, W_f, C) float32 of window ``w``."""
        return torch.as_tensor(np.asarray(self.array()[w])).float()

    def frame(self, step: str) -> torch.Tensor:
        """(H_f, W_f, C) float32 of ``step`` (its first window).

        Raises:
            KeyError: naming the pack when it has no such step.
        """
        return self.frames([step])[0]

    def frames(self, steps: Sequence[str]) -> torch.Tensor:
        """(len(steps), H_f, W_f, C) float32 of several steps, read as few slices: each run
        of steps stored consecutively in one window is one read (``arr[w, t0:t1]``), instead
        of one read per frame.

        Raises:
            KeyError: naming the pack and the first step it lacks.
        """
        missing = [s for s in steps if s not in self.index]
        if missing:
            raise KeyError(f'{self.path}: no frame {missing[0]}')
        runs = []                                       # [window, first t, last t]
        for w, t in (self.index[s] for s in steps):
            if runs and runs[-1][0] == w and runs[-1][2] + 1 == t:
                runs[-1][2] = t
            else:
                runs.append([w, t, t])
        arr = self.array()
        parts = [torch.as_tensor(np.asarray(arr[w, t0:t1 + 1])) for w, t0, t1 in runs]
        return torch.cat(parts).float()


def pack_path(root: str, encoder: str, task: str, episode: str, store: str = 'zarr') -> str:
    """``<root>/<encoder>/<task>/<episode>.<store>``."""
    return osp.join(root, encoder, task, f'{episode}.{store}')


def open_packs(root: str, encoders: Sequence[str], task: str, episode: str,
               store: str = 'zarr', cache: Optional[dict] = None) -> Dict[str, FeaturePack]:
    """One :class:`FeaturePack` per encoder (cached in ``cache`` by path)."""
    cache = {} if cache is None else cache
    out = {}
    for enc in encoders:
        path = pack_path(root, enc, task, episode, store)
        if path not in cache:
            cache[path] = FeaturePack(path)
        out[enc] = cache[path]
    return out
