"""Offline 2D feature extraction (``tools/extract_2d_features.py``; ``precompute_clip_feats``).

Frames come from infos files (SV ``img_path``, MV ``img_paths``; paths relative to the infos'
folder) or from image globs; each frame's features go to
``<out_root>/<feat_dir>/<scene>/<frame>.pt`` (:mod:`.feature_io`). The encoder is frozen and
runs under ``no_grad``; images are decoded by DataLoader workers; finished files are skipped
(resumable; writes are atomic); several devices split the frames between processes.
"""
import glob
import logging
import os.path as osp
import shutil
import zipfile
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..infos_io import load_infos
from .feature_io import DEFAULT_FEAT_DIR, feature_relpath, load_feature_file, save_feature_file

logger = logging.getLogger('oneformer3d')
DTYPES = dict(fp32=torch.float32, fp16=torch.float16, bf16=torch.bfloat16)
SCANNET_FRAMES = 2_500_000      # ScanNet v2: ~2.5M RGB-D frames in 1,513 scans (Dai et al.)


def frames_from_infos(infos_files: Sequence[str], out_root: Optional[str] = None,
                      feat_dir: str = DEFAULT_FEAT_DIR) -> List[dict]:
    """``[{'img_path', 'out_path'}]`` for every distinct frame of the infos files.

    Image paths in the infos are relative to the infos' folder (our ``create_data`` layout);
    an info's ``clip_feat_path(s)`` wins over the derived location. ``out_root`` defaults to
    the infos' folder.

    Raises:
        ValueError: naming the infos file when an entry has neither img_path nor img_paths.
    """
    frames, seen = [], set()
    for path in infos_files:
        data = load_infos(path)
        root = osp.dirname(osp.abspath(path))
        dst = out_root or root
        for info in data['data_list'] if isinstance(data, dict) else data:
            if 'img_path' in info:
                items = [(info['img_path'], info.get('clip_feat_path'), info.get('frame_id'))]
            elif 'img_paths' in info:
                paths = info.get('clip_feat_paths') or [None] * len(info['img_paths'])
                items = [(p, c, None) for p, c in zip(info['img_paths'], paths)]
            else:
                raise ValueError(f'{path}: sample {info.get("sample_idx")} has neither img_path '
                                 f'nor img_paths')
            for img, feat, frame in items:
                img_abs = img if osp.isabs(img) else osp.join(root, img)
                out = feat if feat else feature_relpath(img, info.get('scene_id'), frame,
                                                        feat_dir)
                out_abs = out if osp.isabs(out) else osp.join(dst, out)
                if out_abs not in seen:
                    seen.add(out_abs)
                    frames.append(dict(img_path=osp.normpath(img_abs),
                                       out_path=osp.normpath(out_abs)))
    return frames


def frames_from_globs(patterns: Sequence[str], out_root: str,
                      feat_dir: str = DEFAULT_FEAT_DIR) -> List[dict]:
    """Frames from image globs (e.g. a 7-Scenes folder); scene = the image's folder name."""
    frames = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise FileNotFoundError(f'{pattern}: no image matches')
        frames += [dict(img_path=p, out_path=osp.join(out_root, feature_relpath(p, None, None,
                                                                                feat_dir)))
                   for p in paths]
    return frames


class _ImageDataset(Dataset):
    def __init__(self, frames):
        self.frames = frames

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        path = self.frames[i]['img_path']
        try:
            img = np.asarray(Image.open(path).convert('RGB'))
        except (OSError, FileNotFoundError) as err:
            raise FileNotFoundError(f'{path}: unreadable image ({err})') from None
        return i, torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def _collate(batch):
    return batch


def storage_estimate(encoder, image_size, num_frames: int, store_dtype: torch.dtype) -> dict:
    """Bytes per frame of the stored map (+ global vector) and totals for this job and for
    ScanNet v2 at every 20th frame, from one dry run of the encoder."""
    c, hf, wf = encoder.feat_shape(image_size)
    glob_c = encoder(torch.zeros(1, 3, *image_size, dtype=torch.uint8,
                                 device=next(iter(encoder.buffers())).device))['global'].shape[-1]
    item = torch.tensor([], dtype=store_dtype).element_size()
    per_frame = (c * hf * wf + glob_c) * item
    return dict(shape=(c, hf, wf), bytes_per_frame=per_frame, job_bytes=per_frame * num_frames,
                scannet_every20_bytes=per_frame * SCANNET_FRAMES // 20)


def format_bytes(n: float) -> str:
    for unit in ('B', 'KB', 'MB', 'GB', 'TB'):
        if n < 1024 or unit == 'TB':
            return f'{n:.1f} {unit}'
        n /= 1024


def stored_frames(frames: List[dict], expect: Optional[dict]) -> Tuple[List[dict], int]:
    """The frames whose stored file is finished and was made by the encoder asked for.

    A file that is not a complete zip archive (torch's format; a truncated copy, a crashed
    disk) is not finished: it is redone and counted. The first and last stored files are read
    and their ``meta`` compared with ``expect`` (``{'encoder': name, 'channels': C}``).

    Raises:
        ValueError: a stored file was made by another encoder or has another channel count —
            naming the file, what it holds and what was asked (use another ``--feat-dir``, or
            ``--overwrite`` to replace them).
    """
    done = [f for f in frames if osp.isfile(f['out_path'])]
    whole = [f for f in done if zipfile.is_zipfile(f['out_path'])]
    for fr in ([whole[0], whole[-1]] if whole and expect else []):
        meta = load_feature_file(fr['out_path'])[2]
        found = dict(encoder=meta.get('encoder'), channels=meta.get('channels'))
        if any(found[k] != expect[k] for k in expect if k in found):
            raise ValueError(
                f'{fr["out_path"]}: stored by {found["encoder"]} with {found["channels"]} '
                f'channels, {expect["encoder"]} with {expect["channels"]} was asked: this '
                f'folder holds another encoder\'s maps. Use another --feat-dir, or '
                f'--overwrite to replace them')
    return whole, len(done) - len(whole)


def run_extraction(frames: List[dict], encoder_cfg: dict, device: str = 'cpu',
                   batch_size: int = 4, workers: int = 2, compute_dtype: str = 'fp32',
                   store_dtype: str = 'fp16', overwrite: bool = False, position: int = 0,
                   encoder=None, expect: Optional[dict] = None) -> dict:
    """Extract and store every frame not yet done (one process, one device); ``encoder``:
    an already built encoder (else built from ``encoder_cfg``); ``expect``: what the stored
    files must hold to count as done (:func:`stored_frames`).

    Returns:
        counts ``{'written', 'skipped', 'redone_incomplete', 'bytes'}``.
    """
    from oneformer3d.registry import MODELS
    finished, incomplete = ([], 0) if overwrite else stored_frames(frames, expect)
    keep = {f['out_path'] for f in finished}
    todo = [f for f in frames if f['out_path'] not in keep]
    stats = dict(written=0, skipped=len(frames) - len(todo), redone_incomplete=incomplete,
                 bytes=0)
    if not todo:
        return stats
    encoder = (encoder or MODELS.build(encoder_cfg)).to(device)
    loader = DataLoader(_ImageDataset(todo), batch_size=batch_size, num_workers=workers,
                        collate_fn=_collate, persistent_workers=False)
    dev_type = torch.device(device).type
    autocast = compute_dtype != 'fp32'
    bar = tqdm(total=len(todo), desc=f'extract {encoder.name} [{device}]', unit='frame',
               position=position)
    for batch in loader:
        groups = {}
        for i, img in batch:                     # one image size per forward pass
            groups.setdefault(tuple(img.shape), []).append((i, img))
        for items in groups.values():
            imgs = torch.stack([img for _, img in items]).to(device)
            with torch.autocast(dev_type, dtype=DTYPES[compute_dtype], enabled=autocast):
                out = encoder(imgs)
            for k, (i, img) in enumerate(items):
                pix = out['pix'][k].float()
                meta = encoder.meta(img.shape[-2:], pix.shape[-2:])
                meta['source_image'] = todo[i]['img_path']
                stats['bytes'] += save_feature_file(todo[i]['out_path'], pix, out['global'][k],
                                                    meta, DTYPES[store_dtype])
                stats['written'] += 1
            bar.update(len(items))
    bar.close()
    return stats


def _device_worker(rank, frames, encoder_cfg, devices, kwargs, queue):
    stats = run_extraction(frames[rank::len(devices)], encoder_cfg, devices[rank],
                           position=rank, **kwargs)
    queue.put(stats)


def run_on_devices(frames: List[dict], encoder_cfg: dict, devices: Sequence[str],
                   encoder=None, **kwargs) -> dict:
    """Split ``frames`` round-robin over ``devices`` (one process each when more than one;
    a given ``encoder`` is used on a single device, else each process builds its own)."""
    if len(devices) == 1:
        return run_extraction(frames, encoder_cfg, devices[0], encoder=encoder, **kwargs)
    ctx = torch.multiprocessing.get_context('spawn')
    queue = ctx.SimpleQueue()
    procs = [ctx.Process(target=_device_worker,
                         args=(r, frames, encoder_cfg, list(devices), kwargs, queue))
             for r in range(len(devices))]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        failed = [d for d, p in zip(devices, procs) if p.exitcode]
        raise RuntimeError(f'extraction failed on {failed}')
    total = dict(written=0, skipped=0, redone_incomplete=0, bytes=0)
    for _ in procs:
        for k, v in queue.get().items():
            total[k] += v
    return total


def free_bytes(path: str) -> int:
    while not osp.exists(path):
        path = osp.dirname(path) or '.'
    return shutil.disk_usage(path).free
