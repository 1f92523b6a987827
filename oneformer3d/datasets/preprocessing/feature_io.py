"""Stored per-frame 2D features: where they live and how they are written and read.

Layout (mirrors the images): ``<data_root>/<feat_dir>/<scene>/<frame>.pt`` for the image
``.../<scene>/color/<frame>.jpg`` (ScanNet 2D export) or ``.../<scene>/<frame>.jpg`` (posed
images, 7-Scenes). ``feat_dir`` defaults to ``clip_feat``; one folder per encoder/layer.

File content: ``{'pix': fp16 (C, H_f, W_f), 'global': fp16 (C_g,), 'meta': {encoder, layer,
input_size, image_size, feat_size, stride, pixel_shuffle, mean, std, channels}}``. A bare tensor
``(C, H_f, W_f)`` is also accepted on load (DINO feature dumps); its meta is then inferred
by the reader from the image size.
"""
import os
import os.path as osp
from typing import Optional, Tuple

import torch

DEFAULT_FEAT_DIR = 'clip_feat'


def scene_frame_of(img_path: str) -> Tuple[str, str]:
    """``(scene, frame)`` from an image path: ``<scene>/color/<frame>.<ext>`` or
    ``<scene>/<frame>.<ext>``."""
    parent = osp.basename(osp.dirname(img_path))
    scene = osp.basename(osp.dirname(osp.dirname(img_path))) if parent == 'color' else parent
    return scene, osp.splitext(osp.basename(img_path))[0]


def feature_relpath(img_path: str, scene_id: Optional[str] = None,
                    frame_id: Optional[str] = None, feat_dir: str = DEFAULT_FEAT_DIR) -> str:
    """``<feat_dir>/<scene>/<frame>.pt`` (relative to the data root) for one frame; the info's
    ``scene_id``/``frame_id`` win over what the image path says."""
    scene, frame = scene_frame_of(img_path)
    return osp.join(feat_dir, scene_id or scene, f'{frame_id or frame}.pt')


def save_feature_file(path: str, pix: torch.Tensor, glob: Optional[torch.Tensor],
                      meta: dict, dtype: torch.dtype = torch.float16) -> int:
    """Write one frame's features atomically (temp file + rename, so an interrupted run never
    leaves a truncated file that looks finished). Returns the file size in bytes."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    payload = {'pix': pix.detach().to('cpu', dtype).contiguous(),
               'global': None if glob is None else glob.detach().to('cpu', dtype).contiguous(),
               'meta': dict(meta, dtype=str(dtype).replace('torch.', ''),
                            channels=int(pix.shape[0]))}
    tmp = f'{path}.tmp{os.getpid()}'
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return osp.getsize(path)


def load_feature_file(path: str) -> Tuple[torch.Tensor, Optional[torch.Tensor], dict]:
    """Read ``(pix (C, H_f, W_f), global (C_g,) or None, meta)``; weights-only unpickling.

    Raises:
        ValueError: naming the file when it cannot be read, holds neither a feature dict nor
        a (C, H_f, W_f) tensor, has NaN/Inf values, or its map disagrees with its own meta
        (``channels``, ``feat_size``; ``stride`` x map size must cover ``image_size`` to
        within one cell).
    """
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # corrupt zip, truncated file, foreign pickle
        raise ValueError(f'{path}: unreadable feature file ({type(err).__name__}: {err})') \
            from None
    if isinstance(obj, torch.Tensor):
        pix, glob, meta = obj, None, {}
    elif isinstance(obj, dict) and isinstance(obj.get('pix'), torch.Tensor):
        pix, glob, meta = obj['pix'], obj.get('global'), dict(obj.get('meta') or {})
    else:
        raise ValueError(f'{path}: expected a dict with a "pix" tensor or a bare (C, H, W) '
                         f'tensor, got {type(obj).__name__}')
    if pix.dim() != 3 or not pix.is_floating_point():
        raise ValueError(f'{path}: "pix" must be a float (C, H_f, W_f) tensor, got '
                         f'{tuple(pix.shape)} {pix.dtype}')
    if not torch.isfinite(pix).all() or (glob is not None and not torch.isfinite(glob).all()):
        raise ValueError(f'{path}: features contain NaN/Inf')
    if 'channels' in meta and int(meta['channels']) != pix.shape[0]:
        raise ValueError(f'{path}: "pix" has {pix.shape[0]} channels but its meta says '
                         f'{meta["channels"]} (file written by another encoder?)')
    if 'feat_size' in meta and list(meta['feat_size']) != list(pix.shape[1:]):
        raise ValueError(f'{path}: "pix" is {tuple(pix.shape[1:])} (H_f, W_f) but its meta says '
                         f'{tuple(meta["feat_size"])}: the stored stride would be wrong')
    if meta.get('stride') is not None and meta.get('image_size') is not None:
        sx, sy = (float(v) for v in meta['stride'])
        h, w = (int(v) for v in meta['image_size'])
        hf, wf = pix.shape[1:]
        if abs(sx * wf - w) >= sx or abs(sy * hf - h) >= sy:
            raise ValueError(f'{path}: a ({hf}, {wf}) map at stride ({sx:g}, {sy:g}) covers '
                             f'{sy * hf:g} x {sx * wf:g} pixels, its meta says the image is '
                             f'{h} x {w}: map size, stride and image size disagree')
    return pix, glob, meta


def add_feature_paths_to_infos(infos_path: str, feat_dir: str = DEFAULT_FEAT_DIR,
                               suffix: str = '_clip') -> Tuple[str, int, int]:
    """Write ``<infos>{suffix}.pkl`` with ``clip_feat_path`` (SV, str) / ``clip_feat_paths``
    (MV, list) per sample, relative to the infos' folder like ``img_path``. Paths are written
    whether or not the files exist yet (extraction may run later); the original infos file is
    left untouched.

    Returns:
        ``(new_path, frames, frames_with_a_file_now)``.

    Raises:
        ValueError: naming the infos file when a sample has neither img_path nor img_paths.
    """
    import pickle

    from ..infos_io import load_infos
    data = load_infos(infos_path)
    root = osp.dirname(osp.abspath(infos_path))
    frames = present = 0
    for info in data['data_list']:
        if 'img_path' in info:
            info['clip_feat_path'] = feature_relpath(info['img_path'], info.get('scene_id'),
                                                     info.get('frame_id'), feat_dir)
            paths = [info['clip_feat_path']]
        elif 'img_paths' in info:
            info['clip_feat_paths'] = [feature_relpath(p, info.get('scene_id'), None, feat_dir)
                                       for p in info['img_paths']]
            paths = info['clip_feat_paths']
        else:
            raise ValueError(f'{infos_path}: sample {info.get("sample_idx")} has neither '
                             f'img_path nor img_paths')
        frames += len(paths)
        present += sum(osp.isfile(osp.join(root, p)) for p in paths)
    data.setdefault('metainfo', {})['clip_feat_dir'] = feat_dir
    stem, ext = osp.splitext(infos_path)
    out = f'{stem}{suffix}{ext}'
    with open(out, 'wb') as fh:
        pickle.dump(data, fh)
    return out, frames, present
