"""``create_data.py scannet200|scannet``: reconstructed scans -> ``.bin`` files + infos (OneFormer3D).

Output under ``out_dir`` (mmdetection3d v1 schema, ``{metainfo, data_list}``)::

    points/<scene>.bin            float32 (N, 6)  x y z (axis-aligned, metres) r g b (0..255)
    instance_mask/<scene>.bin     int64 (N,)      0 = no instance
    semantic_mask/<scene>.bin     int64 (N,)      raw ids of the table's label map
    super_points/<scene>.bin      int64 (N,)      contiguous 0..S-1
    scene_meta/<scene>.json       superpoint source and axis-align matrix of the scene
    <tag>_oneformer3d_infos_{train,val}.pkl

Re-running skips scenes whose four files exist (``overwrite=False``) and rebuilds their infos
from the files, so an interrupted run resumes.
"""
import json
import logging
import os
import os.path as osp
import pickle
from functools import partial
from multiprocessing import Pool
from typing import Dict, List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from oneformer3d.metainfo import ClassTable, read_label_map
from .scannet_io import find_scenes, read_bin, read_scene_arrays, read_scene_raw, write_bin
from .superpoints import compute_superpoints, contiguous, superpoint_purity

logger = logging.getLogger('oneformer3d')
SUBDIRS = dict(points='points', instance='instance_mask', semantic='semantic_mask',
               superpoints='super_points')
INFO_VERSION = '1.1'


def scene_info(scene: str, num_points: int, superpoints: np.ndarray, instance: np.ndarray,
               axis_align_matrix: np.ndarray, superpoint_source: str) -> dict:
    """One ``data_list`` entry (paths relative to the folders in :data:`SUBDIRS`)."""
    return dict(
        sample_idx=scene,
        lidar_points=dict(num_pts_feats=6, lidar_path=f'{scene}.bin'),
        pts_instance_mask_path=f'{scene}.bin',
        pts_semantic_mask_path=f'{scene}.bin',
        super_pts_path=f'{scene}.bin',
        axis_align_matrix=np.asarray(axis_align_matrix, dtype=np.float64),
        num_points=int(num_points),
        superpoint_source=superpoint_source,
        num_superpoints=int(superpoints.max(initial=-1) + 1),
        superpoint_purity=superpoint_purity(superpoints, instance),
    )


def convert_scene(scene: str, layout: str, root: str, out_dir: str, table: ClassTable,
                  label_map: Optional[dict], superpoints: str = 'auto',
                  overwrite: bool = False) -> dict:
    """Convert one scene; returns its info entry.

    Args:
        superpoints: ``'auto'`` (segs.json / ``_sp_label.npy`` when present, else graph
            segmentation), ``'graph'`` / ``'kmeans'`` (always computed), or ``'segs'``
            (required from the input).

    Raises:
        FileNotFoundError / ValueError: naming the input file that is missing or wrong,
        including semantic ids outside the table's label range.
    """
    paths = {k: osp.join(out_dir, d, f'{scene}.bin') for k, d in SUBDIRS.items()}
    meta_json = osp.join(out_dir, 'scene_meta', f'{scene}.json')
    if not overwrite and all(osp.isfile(p) for p in [meta_json, *paths.values()]):
        points = read_bin(paths['points'], np.float32, 6)
        sp = read_bin(paths['superpoints'], np.int64)
        ins = read_bin(paths['instance'], np.int64)
        sem = read_bin(paths['semantic'], np.int64)
        with open(meta_json) as fh:
            meta = json.load(fh)
        lengths = dict(points=len(points), instance=len(ins), semantic=len(sem),
                       superpoints=len(sp))
        if len(set(lengths.values())) != 1:
            raise ValueError(f'{out_dir}: the files of {scene} disagree in length {lengths} '
                             f'(an interrupted earlier run?); re-run with --overwrite')
        if superpoints in ('graph', 'kmeans') and meta['superpoint_source'] != superpoints:
            raise ValueError(f'{meta_json}: {scene} was written with '
                             f'{meta["superpoint_source"]!r} superpoints, --superpoints '
                             f'{superpoints} was asked; re-run with --overwrite')
        return scene_info(scene, len(points), sp, ins, np.array(meta['axis_align_matrix']),
                          meta['superpoint_source'])

    if layout == 'raw':
        data = read_scene_raw(root, scene, label_map, table.raw_id_kind)
        sem_file = osp.join(root, scene, f'{scene}.aggregation.json')
    else:
        data = read_scene_arrays(root, scene)
        sem_file = osp.join(root, f'{scene}_sem_label.npy')
    try:
        table.map_raw_to_seg(data['semantic'], on_unknown='raise')
    except ValueError as err:
        raise ValueError(f'{sem_file}: {err}') from None
    if layout != 'raw':    # user-written ids (raw scenes get theirs from the label map)
        table.check_raw_id_kind(data['semantic'], sem_file)
    if superpoints == 'segs' and data['superpoints'] is None:
        raise FileNotFoundError(f'{root}: scene {scene} has no superpoint file (segs.json or '
                                f'_sp_label.npy) and --superpoints segs was asked')
    if superpoints in ('graph', 'kmeans') or data['superpoints'] is None:
        method = 'graph' if superpoints in ('auto', 'segs') else superpoints
        sp, source = compute_superpoints(data['points'], method), method
    else:
        sp, source = contiguous(data['superpoints']), data['superpoint_source']

    for d in list(SUBDIRS.values()) + ['scene_meta']:
        os.makedirs(osp.join(out_dir, d), exist_ok=True)
    write_bin(paths['instance'], data['instance'], np.int64)
    write_bin(paths['semantic'], data['semantic'], np.int64)
    write_bin(paths['superpoints'], sp, np.int64)
    with open(osp.join(out_dir, 'scene_meta', f'{scene}.json'), 'w') as fh:
        json.dump(dict(superpoint_source=source,
                       axis_align_matrix=np.asarray(data['axis_align_matrix']).tolist()), fh)
    write_bin(paths['points'], data['points'], np.float32)  # last: marks the scene as done
    return scene_info(scene, len(data['points']), sp, data['instance'],
                      data['axis_align_matrix'], source)


def read_splits(split_dir: Optional[str], scenes: List[str]) -> Dict[str, List[str]]:
    """``{'train': [...], 'val': [...]}`` from ScanNet's ``scannetv2_{train,val}.txt`` in
    ``split_dir``; without split files every scene goes to both (logged)."""
    if split_dir is None:
        logger.warning('no split files given: every scene goes to both train and val infos')
        return dict(train=list(scenes), val=list(scenes))
    out = {}
    for split in ('train', 'val'):
        path = osp.join(split_dir, f'scannetv2_{split}.txt')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: split file missing')
        names = [ln.strip() for ln in open(path) if ln.strip()]
        out[split] = [s for s in names if s in set(scenes)]
    return out


def _convert_one(item: Tuple[str, str], **kwargs) -> dict:
    return convert_scene(item[0], item[1], **kwargs)


def create_scannet_infos(root: str, out_dir: str, table: ClassTable, tag: str,
                         workers: int = 1, superpoints: str = 'auto',
                         split_dir: Optional[str] = None, label_map_path: Optional[str] = None,
                         overwrite: bool = False, scenes: Optional[List[str]] = None) -> dict:
    """Convert every scene under ``root`` and write the train/val infos.

    Returns:
        ``{'train': path, 'val': path, 'infos': [entries], 'summary': {...}}`` where the summary
        holds the scene count and superpoint count/purity means.
    """
    found = find_scenes(root)
    if scenes:
        missing = [s for s in scenes if s not in found]
        if missing:
            raise FileNotFoundError(f'{root}: scenes not found: {missing}')
        found = {s: found[s] for s in scenes}
    label_map = None
    if 'raw' in found.values():
        label_map = read_label_map(label_map_path or osp.join(
            osp.dirname(osp.abspath(root)), 'scannetv2-labels.combined.tsv'))
    os.makedirs(out_dir, exist_ok=True)
    fn = partial(_convert_one, root=root, out_dir=out_dir, table=table, label_map=label_map,
                 superpoints=superpoints, overwrite=overwrite)
    items = list(found.items())
    bar = dict(total=len(items), desc=f'create_data {tag}', unit='scene')
    if workers > 1:
        with Pool(workers) as pool:
            infos = list(tqdm(pool.imap(fn, items), **bar))
    else:
        infos = [fn(it) for it in tqdm(items, **bar)]
    by_scene = {i['sample_idx']: i for i in infos}
    splits = read_splits(split_dir, list(by_scene))
    metainfo = dict(table.metainfo(), info_version=INFO_VERSION, data_kind='reconstructed')
    out = dict(infos=infos)
    for split, names in splits.items():
        path = osp.join(out_dir, f'{tag}_oneformer3d_infos_{split}.pkl')
        with open(path, 'wb') as fh:
            pickle.dump(dict(metainfo=metainfo, data_list=[by_scene[s] for s in names]), fh)
        out[split] = path
    out['summary'] = dict(
        scenes=len(infos),
        superpoints_mean=float(np.mean([i['num_superpoints'] for i in infos])),
        superpoint_purity_mean=float(np.mean([i['superpoint_purity'] for i in infos])))
    return out
