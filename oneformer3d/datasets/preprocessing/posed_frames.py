"""Posed frames as ``create_data.py scannet*_sv|_mv`` reads them, and their axis alignment.

Layouts: mmdetection3d's posed-image infos (``scannet_infos.pkl``: ``intrinsics``, camera-to-
world ``extrinsics`` in the raw ScanNet frame, ``annos['axis_align_matrix']``) or its
``posed_images/<scene>/<frame>.jpg|.png|.txt`` folders (``intrinsic.txt``, optional
``depth_intrinsic.txt``). The axis alignment that takes the raw poses to the axis-aligned scans
comes from the posed infos, the scene's ScanNet meta file ``<scene>.txt`` (its
``axisAlignment`` line; ScanNet's ``scans/<scene>/<scene>.txt``) beside ``posed_images/``, or
``--axis-align``; without one the converters use the scan's.
"""
import glob
import os.path as osp
from typing import List, Optional

import numpy as np

from ..infos_io import load_infos
from .scannet_io import read_axis_alignment


def scene_meta_alignment(posed_dir: str, scene: str):
    """The scene's ``axisAlignment`` as ScanNet delivers it: the meta file ``<scene>.txt``
    beside ``posed_images/`` (``<posed_dir>/<scene>.txt``) or in the scene's image folder.
    Returns ``(matrix (4, 4), path)`` or ``(None, None)`` when there is none."""
    for path in (osp.join(posed_dir, f'{scene}.txt'),
                 osp.join(posed_dir, 'posed_images', scene, f'{scene}.txt')):
        if osp.isfile(path):
            return read_axis_alignment(path), path
    return None, None


def apply_axis_alignment(frames: List[dict], path: Optional[str]) -> List[dict]:
    """``--axis-align FILE``: every frame takes this alignment (a ScanNet meta file with an
    ``axisAlignment`` line, or a 4x4 matrix as text or ``.npy``), recorded as its source.

    Raises:
        FileNotFoundError / ValueError: naming the file (missing, or not a 4x4 matrix).
    """
    if not path:
        return frames
    if not osp.isfile(path):
        raise FileNotFoundError(f'--axis-align {path}: no such file')
    if path.endswith('.npy'):
        matrix = np.load(path, allow_pickle=False)
    else:
        with open(path) as fh:
            text = fh.read()
        matrix = read_axis_alignment(path) if 'axisAlignment' in text else np.loadtxt(path)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (4, 4):
        raise ValueError(f'--axis-align {path}: a {matrix.shape} array, not a 4x4 matrix')
    return [dict(fr, axis_align_matrix=matrix, axis_align_source=f'--axis-align {path}')
            for fr in frames]


def list_frames(posed_dir: str) -> List[dict]:
    """Frames as dicts: scene, frame, img_path, depth_path (or None), pose (4, 4) raw,
    intrinsic (colour 4x4), depth_intrinsic (or None), axis_align_matrix (or None: the scan's
    is used) and axis_align_source (where the matrix comes from: mmdetection3d's posed infos,
    the scene's meta file, or None)."""
    frames = []
    pkl = osp.join(posed_dir, 'scannet_infos.pkl')
    if osp.isfile(pkl):
        infos = load_infos(pkl)
        for info in infos:
            align = info.get('annos', {}).get('axis_align_matrix')
            for img, pose in zip(info['img_paths'], info['extrinsics']):
                frames.append(dict(
                    scene=osp.basename(osp.dirname(img)),
                    frame=osp.splitext(osp.basename(img))[0],
                    img_path=osp.join(posed_dir, img), depth_path=None,
                    pose=np.asarray(pose, dtype=np.float64),
                    intrinsic=np.asarray(info['intrinsics'], dtype=np.float64),
                    depth_intrinsic=None, axis_align_matrix=align,
                    axis_align_source=None if align is None else
                    f'{pkl} (annos.axis_align_matrix)'))
        return frames
    for scene_dir in sorted(glob.glob(osp.join(posed_dir, 'posed_images', '*'))):
        k_path = osp.join(scene_dir, 'intrinsic.txt')
        if not osp.isfile(k_path):
            raise FileNotFoundError(f'{k_path}: missing colour intrinsic')
        k = np.loadtxt(k_path)
        dk_path = osp.join(scene_dir, 'depth_intrinsic.txt')
        dk = np.loadtxt(dk_path) if osp.isfile(dk_path) else None
        align, align_path = scene_meta_alignment(posed_dir, osp.basename(scene_dir))
        for img in sorted(glob.glob(osp.join(scene_dir, '*.jpg'))):
            stem = osp.splitext(img)[0]
            try:
                pose = np.loadtxt(stem + '.txt')
            except (OSError, ValueError) as err:
                raise ValueError(f'{stem}.txt: unreadable pose ({err})') from None
            frames.append(dict(
                scene=osp.basename(scene_dir), frame=osp.basename(stem), img_path=img,
                depth_path=stem + '.png' if osp.isfile(stem + '.png') else None,
                pose=pose, intrinsic=k, depth_intrinsic=dk, axis_align_matrix=align,
                axis_align_source=align_path))
    if not frames:
        raise FileNotFoundError(f'{posed_dir}: no posed frames (expected scannet_infos.pkl or '
                                f'posed_images/<scene>/*.jpg)')
    return frames
