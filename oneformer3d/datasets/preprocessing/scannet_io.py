"""Readers and writers for ScanNet scenes (reconstructed scans) — inputs of ``create_data``.

Two input layouts under ``root``:

* raw ScanNet: ``<scene>/<scene>_vh_clean_2.ply`` (vertices in the raw/sensor world frame),
  ``<scene>/<scene>.aggregation.json`` (``segGroups``: objectId, segments, label),
  ``<scene>/<scene>_vh_clean_2.0.010000.segs.json`` (``segIndices`` per vertex) and
  ``<scene>/<scene>.txt`` (``axisAlignment = 16 numbers``). Semantic raw ids come from the
  label map (ScanNet200 ``id`` or ``nyu40id`` column by the class table's ``raw_id_kind``).
* per-scene arrays (mmdetection3d's ``batch_load_scannet_data`` output, as in
  ``../shared/data/scannet/scans``): ``<scene>_vert.npy`` (N, 6) axis-aligned xyz + rgb 0..255,
  ``<scene>_ins_label.npy`` (N,), ``<scene>_sem_label.npy`` (N,) raw ids, optional
  ``<scene>_sp_label.npy`` (N,) superpoints, optional ``<scene>_axis_align_matrix.npy``.

Conventions of what is returned (and written by :func:`write_bin`): points float32 (N, 6),
masks int64 (N,); instance id 0 = no instance (ScanNet's convention, ids start at 1);
semantic ids raw (0 = unannotated).
"""
import json
import os
import os.path as osp
from glob import glob
from typing import Dict, List, Optional

import numpy as np

ARRAY_SUFFIXES = dict(points='_vert.npy', instance='_ins_label.npy', semantic='_sem_label.npy',
                      superpoints='_sp_label.npy', axis_align='_axis_align_matrix.npy')


def find_scenes(root: str) -> Dict[str, str]:
    """``{scene: layout}`` for every scene under ``root``; layout is ``'raw'`` or ``'arrays'``.

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no scene of either layout.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root}: scans folder does not exist')
    scenes = {osp.basename(p)[:-len('_vert.npy')]: 'arrays'
              for p in glob(osp.join(root, '*_vert.npy'))}
    for ply in glob(osp.join(root, '*', '*_vh_clean_2.ply')):
        scenes.setdefault(osp.basename(osp.dirname(ply)), 'raw')
    if not scenes:
        raise FileNotFoundError(
            f'{root}: no scenes found (expected <scene>_vert.npy files or '
            f'<scene>/<scene>_vh_clean_2.ply folders)')
    return dict(sorted(scenes.items()))


def _load_npy(path: str, what: str) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: missing {what}')
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f'{path}: corrupt or truncated {what} ({err})') from None


def read_scene_arrays(root: str, scene: str) -> dict:
    """Read one scene of the arrays layout; see the module docstring.

    Raises:
        FileNotFoundError / ValueError: naming the file that is missing, corrupt or has a shape
        that does not fit the points.
    """
    base = osp.join(root, scene)
    points = _load_npy(base + ARRAY_SUFFIXES['points'], 'points (N, 6)')
    if points.ndim != 2 or points.shape[1] < 6:
        raise ValueError(f'{base}_vert.npy: points must be (N, 6), got {points.shape}')
    n = points.shape[0]
    bad = ~np.isfinite(points[:, :6]).all(axis=1)
    if bad.any():
        raise ValueError(f'{base}_vert.npy: {int(bad.sum())} of {n} points have NaN/Inf '
                         f'values (first row {int(np.flatnonzero(bad)[0])})')
    out = dict(scene=scene, points=points[:, :6].astype(np.float32),
               axis_align_matrix=np.eye(4), axis_align_default=True, superpoints=None,
               superpoint_source=None)
    for key, what in (('instance', 'instance labels'), ('semantic', 'semantic labels')):
        path = base + ARRAY_SUFFIXES[key]
        arr = _load_npy(path, what)
        if arr.shape != (n,):
            raise ValueError(f'{path}: {what} have shape {arr.shape}, points have {n} rows')
        out[key] = arr.astype(np.int64)
    sp_path = base + ARRAY_SUFFIXES['superpoints']
    if osp.isfile(sp_path):
        sp = _load_npy(sp_path, 'superpoints')
        if sp.shape != (n,):
            raise ValueError(f'{sp_path}: superpoints have shape {sp.shape}, expected ({n},)')
        out['superpoints'], out['superpoint_source'] = sp.astype(np.int64), 'file'
    am_path = base + ARRAY_SUFFIXES['axis_align']
    if osp.isfile(am_path):
        out['axis_align_matrix'] = _load_npy(am_path, 'axis-align matrix').reshape(4, 4)
        out['axis_align_default'] = False
    return out


def read_axis_alignment(meta_path: str) -> np.ndarray:
    """(4, 4) ``axisAlignment`` from a ScanNet ``<scene>.txt``; identity when the line is absent
    (ScanNet's test scenes).

    Raises:
        FileNotFoundError / ValueError: naming the file.
    """
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'{meta_path}: missing scene meta file')
    with open(meta_path) as fh:
        for line in fh:
            if line.strip().startswith('axisAlignment'):
                vals = line.split('=', 1)[1].split()
                if len(vals) != 16:
                    raise ValueError(f'{meta_path}: axisAlignment has {len(vals)} values, not 16')
                return np.array(vals, dtype=np.float64).reshape(4, 4)
    return np.eye(4)


def read_scene_raw(root: str, scene: str, label_map: dict, raw_id_kind: str) -> dict:
    """Read one raw ScanNet scene; xyz are returned axis-aligned (as in the arrays layout).

    Args:
        label_map: from :func:`oneformer3d.metainfo.read_label_map`.
        raw_id_kind: ``'scannet200'`` (tsv ``id``) or ``'nyu40'``.

    Raises:
        FileNotFoundError / ValueError: naming the missing or malformed file.
    """
    from plyfile import PlyData

    d = osp.join(root, scene)
    ply_path = osp.join(d, f'{scene}_vh_clean_2.ply')
    try:
        vertex = PlyData.read(ply_path)['vertex']
        xyz = np.stack([vertex['x'], vertex['y'], vertex['z']], axis=1).astype(np.float64)
        rgb = np.stack([vertex['red'], vertex['green'], vertex['blue']], axis=1)
    except FileNotFoundError:
        raise FileNotFoundError(f'{ply_path}: missing mesh') from None
    except Exception as err:  # plyfile raises several types for broken files
        raise ValueError(f'{ply_path}: unreadable mesh ({err})') from None
    n = xyz.shape[0]
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise ValueError(f'{ply_path}: {int(bad.sum())} of {n} vertices have NaN/Inf '
                         f'coordinates (first vertex {int(np.flatnonzero(bad)[0])})')
    axis_align = read_axis_alignment(osp.join(d, f'{scene}.txt'))
    xyz = xyz @ axis_align[:3, :3].T + axis_align[:3, 3]

    segs_path = osp.join(d, f'{scene}_vh_clean_2.0.010000.segs.json')
    segs = np.asarray(_read_json(segs_path)['segIndices'], dtype=np.int64)
    if segs.shape != (n,):
        raise ValueError(f'{segs_path}: {segs.shape[0]} segIndices for {n} mesh vertices')

    instance = np.zeros(n, dtype=np.int64)
    semantic = np.zeros(n, dtype=np.int64)
    agg_path = osp.join(d, f'{scene}.aggregation.json')
    if osp.isfile(agg_path):  # absent for ScanNet test scenes
        seg_to_verts: Dict[int, List[int]] = {}
        for v, s in enumerate(segs):
            seg_to_verts.setdefault(int(s), []).append(v)
        key = 'id' if raw_id_kind == 'scannet200' else 'nyu40id'
        for group in _read_json(agg_path)['segGroups']:
            entry = label_map.get(group['label'])
            if entry is None:
                raise ValueError(f'{agg_path}: label {group["label"]!r} is not in the label map')
            verts = [v for s in group['segments'] for v in seg_to_verts.get(int(s), ())]
            instance[verts] = int(group['objectId']) + 1
            semantic[verts] = entry[key]
    points = np.concatenate([xyz, rgb], axis=1).astype(np.float32)
    return dict(scene=scene, points=points, instance=instance, semantic=semantic,
                superpoints=segs, superpoint_source='segs', axis_align_matrix=axis_align)


def _read_json(path: str) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: missing file') from None
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: corrupt JSON ({err})') from None


def write_bin(path: str, array: np.ndarray, dtype) -> None:
    """Write ``array`` as raw ``dtype`` bytes (the ``.bin`` layout mmdetection3d reads),
    through a temp file and a rename: an interrupted run never leaves a half-written file
    that a later skip-existing run would take as finished."""
    tmp = f'{path}.tmp{os.getpid()}'
    np.ascontiguousarray(array, dtype=dtype).tofile(tmp)
    os.replace(tmp, path)


def read_bin(path: str, dtype, width: Optional[int] = None) -> np.ndarray:
    """Read a ``.bin`` written by :func:`write_bin`.

    Args:
        width: values per row (6 for points), or None for a flat array.

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: naming the file when its size is not a whole number of rows (truncated).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: file does not exist')
    item = np.dtype(dtype).itemsize * (width or 1)
    size = osp.getsize(path)
    if size % item:
        raise ValueError(f'{path}: {size} bytes is not a whole number of {item}-byte rows '
                         f'(truncated or wrong dtype {np.dtype(dtype).name})')
    arr = np.fromfile(path, dtype=dtype)
    return arr.reshape(-1, width) if width else arr
