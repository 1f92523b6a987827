"""``LoadClipFeature``: stored per-frame 2D features (and the camera info to sample them)."""
import logging
import os.path as osp
from typing import List, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from oneformer3d.datasets.preprocessing.feature_io import (DEFAULT_FEAT_DIR, feature_relpath,
                                                           load_feature_file)
from oneformer3d.registry import TRANSFORMS

logger = logging.getLogger('oneformer3d')


def read_rgb(path: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB; raises FileNotFoundError naming the file when unreadable."""
    try:
        return np.asarray(Image.open(path).convert('RGB'))
    except (OSError, FileNotFoundError) as err:
        raise FileNotFoundError(f'{path}: unreadable colour image ({err})') from None


@TRANSFORMS.register_module()
class LoadClipFeature(BaseTransform):
    """Load the frame's stored 2D features (SV) or every frame's (MV, same order as frames).

    Path: the info's ``clip_feat_path`` (SV, str) / ``clip_feat_paths`` (MV, list) — joined
    with the data root by the dataset — or, when the info has none,
    ``<data_root>/<feat_dir>/<scene>/<frame>.pt`` derived from ``img_path(s)``
    (:func:`~oneformer3d.datasets.preprocessing.feature_io.feature_relpath`).

    Adds (lists for MV):
        ``clip_pix`` fp16/fp32 tensor (C, H_f, W_f) or None, ``clip_global`` (C_g,) or None,
        ``img_shape`` (H, W) of the image the features describe, ``clip_stride`` (s_x, s_y)
        image pixels per feature cell, ``clip_missing`` bool, ``clip_feat_path``.

    A **missing** file is not an error: the frame is marked ``clip_missing=True`` for online
    computation (``Det3DDataPreprocessor(img_encoder=...)``) and, with ``load_image_on_miss``,
    its image is loaded into ``img`` (uint8 H×W×3). Misses are counted in
    ``LoadClipFeature.fallbacks`` (this process) and per epoch, across dataloader workers, by
    :class:`~oneformer3d.engine.hooks.DataFallbackHook` from the packed flags.

    Args:
        always_load_image: also load the image (``img``) of frames whose file exists (for
            ``BiFusionEncoder(freeze_blocks > 0)``, which computes every map online).
        channels: the feature channel count the model expects (e.g. 192 for CLIP ViT-B/16
            after PixelShuffle); None = every map must have the first map's count.

    Raises:
        ValueError: a file exists but is corrupt, disagrees with its own meta, or has another
            channel count (names the file; never silently skipped).
    """

    fallbacks = 0

    def __init__(self, feat_dir: str = DEFAULT_FEAT_DIR, load_image_on_miss: bool = True,
                 channels: Optional[int] = None, always_load_image: bool = False):
        self.always_load_image = always_load_image
        self.feat_dir = feat_dir
        self.load_image_on_miss = load_image_on_miss
        self.channels = channels
        self._seen = None          # (channels, file) of the first map, when not configured

    def _check_channels(self, path: str, c: int) -> None:
        if self.channels is not None and c != self.channels:
            raise ValueError(f'{path}: {c} feature channels, the config expects '
                             f'LoadClipFeature(channels={self.channels})')
        if self._seen is None:
            self._seen = (c, path)
        elif c != self._seen[0]:
            raise ValueError(f'{path}: {c} feature channels, but {self._seen[1]} has '
                             f'{self._seen[0]}: the feature folder mixes encoders')

    def _path(self, results: dict, img_path: str, idx: Optional[int]) -> str:
        key = 'clip_feat_path' if idx is None else 'clip_feat_paths'
        if results.get(key) is not None:
            return results[key] if idx is None else results[key][idx]
        frame = results.get('frame_id') if idx is None else None
        rel = feature_relpath(img_path, results.get('scene_id'), frame, self.feat_dir)
        return osp.join(results.get('data_root') or '', rel)

    def _load_one(self, path: str, img_path: str) -> dict:
        if not osp.isfile(path):
            LoadClipFeature.fallbacks += 1
            logger.debug(f'{path}: no stored features; marked for online computation')
            out = dict(clip_pix=None, clip_global=None, clip_missing=True, clip_feat_path=path,
                       clip_stride=None)
            if self.load_image_on_miss:
                out['img'] = read_rgb(img_path)
                out['img_shape'] = tuple(out['img'].shape[:2])
            else:
                w, h = Image.open(img_path).size
                out['img_shape'] = (h, w)
            return out
        pix, glob, meta = load_feature_file(path)
        self._check_channels(path, pix.shape[0])
        if 'image_size' in meta:
            img_shape = tuple(int(v) for v in meta['image_size'])
        else:                                   # bare tensor: the image says its size
            w, h = Image.open(img_path).size
            img_shape = (h, w)
        stride = meta.get('stride') or [img_shape[1] / pix.shape[2], img_shape[0] / pix.shape[1]]
        out = dict(clip_pix=pix, clip_global=glob, clip_missing=False, clip_feat_path=path,
                   img_shape=img_shape, clip_stride=tuple(float(s) for s in stride))
        if self.always_load_image:
            out['img'] = read_rgb(img_path)
        return out

    def transform(self, results: dict) -> dict:
        if 'img_paths' in results:               # multi-view: one entry per frame
            outs: List[dict] = [self._load_one(self._path(results, p, i), p)
                                for i, p in enumerate(results['img_paths'])]
            for key in ('clip_pix', 'clip_global', 'clip_missing', 'clip_feat_path',
                        'img_shape', 'clip_stride'):
                results[key] = [o[key] for o in outs]
            if any('img' in o for o in outs):
                results['img'] = [o.get('img') for o in outs]
            return results
        if 'img_path' not in results:
            raise KeyError(f'sample {results.get("sample_idx")}: LoadClipFeature needs '
                           f'img_path (SV) or img_paths (MV) in the info')
        results.update(self._load_one(self._path(results, results['img_path'], None),
                                      results['img_path']))
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(feat_dir={self.feat_dir!r}, '
                f'load_image_on_miss={self.load_image_on_miss}, channels={self.channels}, '
                f'always_load_image={self.always_load_image})')
