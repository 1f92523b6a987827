"""Build feature packs (:mod:`oneformer3d.robot.datasets.feature_packs`) from an episode's images
with a registered frozen encoder; each distinct frame is encoded once."""
import glob
import os.path as osp
from typing import List, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..datasets.feature_packs import make_windows, write_pack


def episode_frames(rgb_dir: str) -> List[str]:
    """``step_XXXX.png`` images of an episode folder in step order."""
    paths = sorted(glob.glob(osp.join(rgb_dir, 'step_*.png')))
    if not paths:
        raise FileNotFoundError(f'{rgb_dir}: no step_XXXX.png frames')
    return paths


@torch.no_grad()
def encode_frames(encoder, paths: Sequence[str], batch_size: int = 8) -> torch.Tensor:
    """(N, H_f, W_f, C) float32 features of the images (one size per episode)."""
    out = []
    for i in tqdm(range(0, len(paths), batch_size), desc=f'encode {encoder.name}',
                  unit='batch'):
        imgs = [np.asarray(Image.open(p).convert('RGB')) for p in paths[i:i + batch_size]]
        x = torch.from_numpy(np.stack(imgs).transpose(0, 3, 1, 2).copy())
        out.append(encoder(x)['pix'].permute(0, 2, 3, 1).float())
    return torch.cat(out)


def build_pack(encoder, encoder_name: str, paths: Sequence[str], out_paths: Sequence[str],
               window: int = 8, stride: int = 4, batch_size: int = 8) -> dict:
    """Encode ``paths``, cut into windows and write one pack per entry of ``out_paths``
    (``.pt`` and/or ``.zarr``). Returns ``{'shape', 'bytes': {path: size}}``."""
    feats = encode_frames(encoder, paths, batch_size)
    wins = make_windows(len(paths), window, stride)
    per_window = torch.stack([feats[w] for w in wins])             # (W, T, H_f, W_f, C)
    h, w = np.asarray(Image.open(paths[0])).shape[:2]
    meta = encoder.meta((h, w), feats.shape[1:3])
    meta.update(encoder=encoder_name, encoder_type=encoder.name, window=window, stride_frames=stride,
                resize='aspect-preserving bicubic, no crop', patch_multiple=encoder.multiple)
    frame_paths = [[paths[i] for i in win] for win in wins]
    sizes = {p: write_pack(p, per_window, frame_paths, meta) for p in out_paths}
    return dict(shape=tuple(per_window.shape), bytes=sizes)
