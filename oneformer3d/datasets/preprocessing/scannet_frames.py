"""``create_data.py scannet200_sv|scannet_sv``: single posed RGB-D frames (ESAM style).

For each kept frame: back-project the depth with its intrinsic and ``pose`` (camera-to-world,
raw ScanNet frame), axis-align, keep at most ``max_points`` points, colour them from the
registered colour image, transfer instance/semantic labels from the reconstructed scan by
nearest neighbour (farther than ``label_radius`` -> unlabeled), centre the frame, and store
``pose`` so that it maps camera coordinates to the *centred, aligned* frame:
``pose = T(-centre) @ axis_align @ pose_raw``. Projecting the stored points with
``inv(pose)`` and ``intrinsic`` therefore lands on the colour image's pixels.

Frame sources under ``posed_dir`` (default ``<root>/posed``):

* ``scannet_infos.pkl``: mmdetection3d's posed-image infos (``intrinsics`` 4x4 colour,
  ``extrinsics`` list of camera-to-world poses, ``img_paths`` relative to ``posed_dir``,
  ``annos['axis_align_matrix']``) — the shared real sample;
* ``posed_images/<scene>/<frame>.jpg|.png|.txt`` + ``intrinsic.txt`` (colour, 4x4) and optional
  ``depth_intrinsic.txt`` (mmdetection3d's ``extract_posed_images.py`` layout), with the scene's
  meta file ``<scene>.txt`` beside ``posed_images/`` for the axis alignment (:mod:`.posed_frames`).

Every frame's aligned points must land on the scan (:func:`check_on_scan`), else the
conversion stops naming the frame: labels are never transferred across a misalignment.

Frames without a depth image get one rendered from the scan's vertices with a z-buffer
(:func:`oneformer3d.geometry.render_depth`), written to ``<out>/depth/`` and marked
``depth_source='rendered'``. Frames whose pose is NaN/Inf or not invertible are skipped,
warned about and counted (``summary['skipped_bad_pose']``).
"""
import logging
import os
import os.path as osp
import pickle
from typing import List, Optional

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

from oneformer3d.geometry import (backproject_depth, check_pose, render_depth,
                                  scale_intrinsic, transform_points)
from oneformer3d.metainfo import ClassTable, read_label_map
from ..infos_io import load_infos
from .frame_workers import frame_rng, map_frames
from .posed_frames import apply_axis_alignment, list_frames
from .scannet_io import find_scenes, read_bin, read_scene_arrays, read_scene_raw, write_bin
from .scannet_scans import INFO_VERSION, SUBDIRS
from .superpoints import compute_superpoints

logger = logging.getLogger('oneformer3d')
DEPTH_SIZE = (480, 640)  # ScanNet depth (H, W)
# A frame's back-projected points must lie on the scan: median distance to the nearest scan
# vertex at most this (metres). On the real scene0000_00 sequence (posed_rgbd, 60 frames of
# sensor depth) correctly aligned frames measure 2.3-2.9 cm (ScanNet's mesh vertices are ~2 cm
# apart, sensor noise adds the rest); the same frames in the raw, unaligned frame measure
# 4.9 cm to 4.6 m. Rendered depth lies on the scan (~0).
MAX_FRAME_SCAN_DISTANCE = 0.04


def frame_cloud(fr: dict, scan: dict, out_dir: str, max_points: int, rng) -> dict:
    """One posed frame -> axis-aligned world points coloured from its image.

    Depth from the frame's file, or rendered from the scan's vertices (written to
    ``<out_dir>/depth/<scene>/<frame>.png``). Returns ``xyz`` (M, 3) float64 aligned world,
    ``rgb`` (M, 3) float32, ``depth_path``, ``depth_intrinsic`` (3, 3), ``depth_source``
    ('sensor' | 'rendered') and ``align`` (4, 4).
    """
    align = np.asarray(fr['axis_align_matrix'] if fr['axis_align_matrix'] is not None
                       else scan['axis_align_matrix'], dtype=np.float64)
    try:
        color = np.asarray(Image.open(fr['img_path']).convert('RGB'))
    except (OSError, FileNotFoundError) as err:
        raise FileNotFoundError(f'{fr["img_path"]}: unreadable colour image ({err})') from None
    h_c, w_c = color.shape[:2]
    if fr['depth_path'] is not None:
        depth = np.asarray(Image.open(fr['depth_path']), dtype=np.float32) / 1000.0
        depth_k = fr['depth_intrinsic'] if fr['depth_intrinsic'] is not None else \
            scale_intrinsic(fr['intrinsic'], depth.shape[1] / w_c, depth.shape[0] / h_c)
        depth_path, source = fr['depth_path'], 'sensor'
    else:
        depth_k = scale_intrinsic(fr['intrinsic'], DEPTH_SIZE[1] / w_c, DEPTH_SIZE[0] / h_c)
        raw_xyz = transform_points(scan['points'][:, :3].astype(np.float64), np.linalg.inv(align))
        depth = render_depth(raw_xyz, depth_k, fr['pose'], DEPTH_SIZE, splat=2)
        depth_path = osp.join(out_dir, 'depth', fr['scene'], f'{fr["frame"]}.png')
        os.makedirs(osp.dirname(depth_path), exist_ok=True)
        Image.fromarray(np.round(depth * 1000).astype(np.uint16)).save(depth_path)
        source = 'rendered'
    world, pix = backproject_depth(depth, depth_k, fr['pose'])
    if len(world) > max_points:
        keep = np.sort(rng.choice(len(world), max_points, replace=False))
        world, pix = world[keep], pix[keep]
    # colour from the registered colour image (pixel centres scale with the resolution)
    u = np.clip(np.round((pix[:, 0] + 0.5) * w_c / depth.shape[1] - 0.5), 0, w_c - 1)
    v = np.clip(np.round((pix[:, 1] + 0.5) * h_c / depth.shape[0] - 0.5), 0, h_c - 1)
    rgb = color[v.astype(int), u.astype(int)].astype(np.float32)
    return dict(xyz=transform_points(world.astype(np.float64), align), rgb=rgb,
                depth_path=depth_path, depth_intrinsic=np.asarray(depth_k)[:3, :3],
                depth_source=source, align=align)


def alignment_source(fr: dict, scan: dict) -> str:
    """Where a frame's axis alignment comes from (recorded in the infos)."""
    if fr.get('axis_align_source'):
        return fr['axis_align_source']
    if scan.get('axis_align_default', False):
        return 'identity (assumed: no meta file, no <scene>_axis_align_matrix.npy)'
    return 'the scan (its meta file or <scene>_axis_align_matrix.npy)'


def check_on_scan(dist: np.ndarray, fr: dict, source: str,
                  max_distance: float = MAX_FRAME_SCAN_DISTANCE) -> float:
    """The median of ``dist`` (M,), the distances (metres) of a frame's aligned points to their
    nearest scan vertex (the query :func:`transfer_labels` reads too).

    Raises:
        ValueError: above ``max_distance``, naming the frame, the distance, the alignment
            used and the likely causes — labels would be transferred across a misalignment.
    """
    if len(dist) == 0:
        return 0.0
    median = float(np.median(dist))
    if median > max_distance:
        raise ValueError(
            f'{fr["img_path"]}: its back-projected points lie a median {median * 100:.1f} cm '
            f'from the scan of {fr["scene"]} (at most {max_distance * 100:.1f} cm expected), so '
            f'labels would be transferred across a misalignment. Axis alignment used: '
            f'{source}. Likely causes: poses in the raw ScanNet frame while the scan is '
            f'axis-aligned (put the scene meta file {fr["scene"]}.txt with its axisAlignment '
            f'line beside posed_images/, or use the posed infos of mmdetection3d), a wrong depth '
            f'intrinsic, or a wrong depth scale (ScanNet depth: uint16 millimetres)')
    return median


def transfer_labels(dist: np.ndarray, nn: np.ndarray, scan: dict, label_radius: float):
    """Instance / semantic ids of each point's nearest scan vertex ``nn`` (M,) at distance
    ``dist`` (M,) metres (``cKDTree.query``); 0 beyond ``label_radius``. Returns
    ``(ins, sem, near)``."""
    near = dist <= label_radius
    return (np.where(near, scan['instance'][nn], 0), np.where(near, scan['semantic'][nn], 0),
            near)


def frame_settings(max_points: int, label_radius: float, superpoints: str,
                   min_points: int) -> dict:
    """What a converted frame depends on besides its inputs (stored as its ``made_by``; the
    per-frame seed is its name)."""
    return dict(max_points=int(max_points), label_radius=float(label_radius),
                superpoints='kmeans' if superpoints == 'kmeans' else 'graph',
                min_points=int(min_points), sampling='frame_rng')


def convert_frame(fr: dict, scan: dict, tree: cKDTree, out_dir: str, table: ClassTable,
                  max_points: int, label_radius: float, superpoints: str, rng,
                  min_points: int = 100,
                  max_scan_distance: float = MAX_FRAME_SCAN_DISTANCE) -> Optional[dict]:
    """Convert one frame (see the module docstring); returns its info entry, or None (no
    file written) when its depth gives fewer than ``min_points`` points.

    Raises:
        ValueError: the frame's points do not lie on the scan (:func:`check_on_scan`).
    """
    name = f'{fr["scene"]}_{fr["frame"]}'
    cloud = frame_cloud(fr, scan, out_dir, max_points, rng)
    xyz, rgb, align = cloud['xyz'], cloud['rgb'], cloud['align']
    if len(xyz) < min_points:
        return None
    depth_path, depth_k, source = cloud['depth_path'], cloud['depth_intrinsic'], \
        cloud['depth_source']
    align_source = alignment_source(fr, scan)
    dist, nn = tree.query(xyz)
    distance = check_on_scan(dist, fr, align_source, max_scan_distance)
    ins, sem, near = transfer_labels(dist, nn, scan, label_radius)
    centre = xyz.mean(axis=0)
    shift = np.eye(4)
    shift[:3, 3] = -centre
    points = np.concatenate([xyz - centre, rgb], axis=1).astype(np.float32)
    method = 'kmeans' if superpoints == 'kmeans' else 'graph'
    sp = compute_superpoints(points, method) if len(points) else np.zeros(0, np.int64)
    for key, d in SUBDIRS.items():
        os.makedirs(osp.join(out_dir, d), exist_ok=True)
    write_bin(osp.join(out_dir, SUBDIRS['instance'], f'{name}.bin'), ins, np.int64)
    write_bin(osp.join(out_dir, SUBDIRS['semantic'], f'{name}.bin'), sem, np.int64)
    write_bin(osp.join(out_dir, SUBDIRS['superpoints'], f'{name}.bin'), sp, np.int64)
    write_bin(osp.join(out_dir, SUBDIRS['points'], f'{name}.bin'), points, np.float32)
    rel = lambda p: osp.relpath(osp.abspath(p), osp.abspath(out_dir))  # noqa: E731
    return dict(
        sample_idx=name, scene_id=fr['scene'], frame_id=fr['frame'],
        lidar_points=dict(num_pts_feats=6, lidar_path=f'{name}.bin'),
        pts_instance_mask_path=f'{name}.bin', pts_semantic_mask_path=f'{name}.bin',
        super_pts_path=f'{name}.bin', img_path=rel(fr['img_path']), depth_path=rel(depth_path),
        intrinsic=np.asarray(fr['intrinsic'], dtype=np.float64)[:3, :3],
        depth_intrinsic=np.asarray(depth_k, dtype=np.float64)[:3, :3],
        pose=shift @ align @ fr['pose'], axis_align_matrix=align,
        axis_align_source=align_source, scan_distance_median=distance, centre=centre,
        depth_source=source, superpoint_source=method, num_points=int(len(points)),
        labelled_ratio=float(near.mean()) if len(near) else 0.0,
        made_by=frame_settings(max_points, label_radius, method, min_points))


def _frame_info_path(out_dir: str, name: str) -> str:
    return osp.join(out_dir, 'frame_infos', f'{name}.pkl')


def save_frame_info(out_dir: str, info: dict) -> None:
    """Write a frame's info entry last (temp file + rename): its presence marks the frame's
    four ``.bin`` files as finished for a later skip-existing run."""
    path = _frame_info_path(out_dir, info['sample_idx'])
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as fh:
        pickle.dump(info, fh)
    os.replace(tmp, path)


def finished_frame(out_dir: str, fr: dict, superpoints: str = 'auto',
                   made_by: Optional[dict] = None) -> Optional[dict]:
    """The stored info of a frame converted before (skip-existing), or None.

    Raises:
        ValueError: its files disagree in length (an interrupted run), they were written
            with another superpoint method than ``superpoints`` asks for, or with other
            settings than ``made_by`` (:func:`frame_settings`: max points, label radius, ...);
            names them.
    """
    name = f'{fr["scene"]}_{fr["frame"]}'
    path = _frame_info_path(out_dir, name)
    if not osp.isfile(path):
        return None
    info = load_infos(path)
    lengths = {key: len(read_bin(osp.join(out_dir, d, f'{name}.bin'), np.float32 if
                                 key == 'points' else np.int64, 6 if key == 'points' else None))
               for key, d in SUBDIRS.items()}
    if len(set(lengths.values())) != 1 or lengths['points'] != info['num_points']:
        raise ValueError(f'{out_dir}: the files of frame {name} disagree in length {lengths} '
                         f'(an interrupted earlier run?); re-run with --overwrite')
    if superpoints == 'kmeans' and info['superpoint_source'] != 'kmeans' or \
            superpoints == 'graph' and info['superpoint_source'] != 'graph':
        raise ValueError(f'{path}: frame {name} was written with '
                         f'{info["superpoint_source"]!r} superpoints, --superpoints '
                         f'{superpoints} was asked; re-run with --overwrite')
    if made_by is not None and superpoints == 'auto':
        made_by = dict(made_by, superpoints=info['superpoint_source'])
    if made_by is not None and info.get('made_by') != made_by:
        old = info.get('made_by') or {}
        diff = {k: (old.get(k), v) for k, v in made_by.items() if old.get(k) != v}
        raise ValueError(f'{path}: frame {name} was converted with other settings '
                         f'(stored vs asked: {diff}); re-run with --overwrite, or convert '
                         f'into another --out-dir')
    return info


class ScanCache:
    """The reconstructed scan of the scene being converted (``<root>/scans``, raw ScanNet or
    arrays layout) with a kd-tree over its vertices; one scene kept at a time."""

    def __init__(self, root: str, table: ClassTable):
        self.root, self.table = root, table
        self.scans_dir = osp.join(root, 'scans')
        self.layouts = find_scenes(self.scans_dir)
        self.label_map = None
        self.cache = {}

    def get(self, scene: str, needed_by: str):
        """``(scan dict, cKDTree)``; raises FileNotFoundError naming what needed the scan."""
        if scene not in self.layouts:
            raise FileNotFoundError(f'{self.scans_dir}: no scan for scene {scene} (needed to '
                                    f'transfer labels to {needed_by})')
        if scene not in self.cache:
            if self.layouts[scene] == 'raw':
                self.label_map = self.label_map or read_label_map(
                    osp.join(self.root, 'scannetv2-labels.combined.tsv'))
                scan = read_scene_raw(self.scans_dir, scene, self.label_map,
                                      self.table.raw_id_kind)
            else:
                scan = read_scene_arrays(self.scans_dir, scene)
                self.table.check_raw_id_kind(
                    scan['semantic'], osp.join(self.scans_dir, f'{scene}_sem_label.npy'))
            self.table.map_raw_to_seg(scan['semantic'], on_unknown='raise')
            self.cache = {scene: (scan, cKDTree(scan['points'][:, :3]))}
        return self.cache[scene]


def sv_frame(fr: dict, scans: ScanCache, out_dir: str, table: ClassTable, max_points: int,
             label_radius: float, superpoints: str, seed: int, min_points: int,
             overwrite: bool) -> dict:
    """One frame of :func:`create_scannet_sv_infos` (run by :func:`.frame_workers.map_frames`,
    in this process or a worker): ``{'info'}`` (None when skipped), ``'skip'`` (None,
    ``'bad_pose'`` or ``'few_points'``), ``'why'`` and ``'default_align'``."""
    why = check_pose(fr['pose'])
    if why is not None:
        return dict(info=None, skip='bad_pose', why=why, default_align=False)
    scan, tree = scans.get(fr['scene'], fr['img_path'])
    default_align = fr['axis_align_matrix'] is None and scan.get('axis_align_default', False)
    info = None if overwrite else finished_frame(
        out_dir, fr, superpoints, frame_settings(max_points, label_radius, superpoints,
                                                 min_points))
    if info is None:
        info = convert_frame(fr, scan, tree, out_dir, table, max_points, label_radius,
                             superpoints, frame_rng(seed, fr['scene'], fr['frame']),
                             min_points)
        if info is not None:
            save_frame_info(out_dir, info)
    return dict(info=info, skip=None if info is not None else 'few_points', why=None,
                default_align=default_align)


def create_scannet_sv_infos(root: str, out_dir: str, table: ClassTable, tag: str,
                            posed_dir: Optional[str] = None, frame_interval: int = 1,
                            max_points: int = 20000, superpoints: str = 'auto',
                            overwrite: bool = False, scenes: Optional[List[str]] = None,
                            workers: int = 1, label_radius: float = 0.05,
                            seed: int = 0, min_points: int = 100,
                            axis_align: Optional[str] = None) -> dict:
    """Convert every kept frame; the scans are read from ``<root>/scans``.

    Frames whose pose is unusable, or whose depth gives fewer than ``min_points`` points, are
    skipped, warned about (naming the frame) and counted. Without ``overwrite`` a frame
    converted by an earlier run (its ``frame_infos/<frame>.pkl``, written last) is reused
    after checking that its files agree in length, so a re-run resumes. ``workers`` > 1
    converts the frames in that many processes (:mod:`.frame_workers`) with byte-identical
    output. Poses from ``posed_images/*.txt``
    are in the raw ScanNet frame; when the scene's scan arrays carry no axis alignment
    (``<scene>_axis_align_matrix.npy``) identity is assumed, which is right only for scans in
    the raw frame: a warning per scene says so and the frames are counted.

    Returns:
        ``{'train', 'val', 'infos', 'summary'}`` like the reconstructed converter; the summary
        counts frames, skipped bad poses, skipped near-empty frames, frames aligned with the
        default (identity) matrix and rendered depths.
    """
    posed_dir = posed_dir or osp.join(root, 'posed')
    frames = apply_axis_alignment(list_frames(posed_dir), axis_align)
    if scenes:
        frames = [f for f in frames if f['scene'] in scenes]
    frames = frames[::max(1, frame_interval)]
    results = map_frames(sv_frame, frames, root, table, workers, f'create_data {tag}',
                         out_dir=out_dir, table=table, max_points=max_points,
                         label_radius=label_radius, superpoints=superpoints, seed=seed,
                         min_points=min_points, overwrite=overwrite)
    infos, skipped, empty, default_align, warned = [], 0, 0, 0, set()
    for fr, res in zip(frames, results):
        if res['skip'] == 'bad_pose':
            skipped += 1
            logger.warning(f'{fr["img_path"]}: {res["why"]}; frame skipped ({skipped} so far)')
            continue
        if res['default_align']:
            default_align += 1
            if fr['scene'] not in warned:
                warned.add(fr['scene'])
                logger.warning(
                    f'{osp.join(root, "scans")}/{fr["scene"]}: no axis alignment for the posed '
                    f'frames (no {fr["scene"]}_axis_align_matrix.npy beside the arrays): '
                    f'identity assumed, right only if the scan arrays are in the raw ScanNet '
                    f'frame')
        if res['skip'] == 'few_points':
            empty += 1
            logger.warning(f'{fr["img_path"]}: fewer than {min_points} points from its depth; '
                           f'frame skipped ({empty} so far)')
            continue
        infos.append(res['info'])
    if not infos:
        raise ValueError(f'{posed_dir}: no usable frame ({skipped} skipped for bad poses, '
                         f'{empty} with fewer than {min_points} points)')
    metainfo = dict(table.metainfo(), info_version=INFO_VERSION, data_kind='single_view')
    out = dict(infos=infos)
    for split in ('train', 'val'):
        path = osp.join(out_dir, f'{tag}_oneformer3d_infos_{split}.pkl')
        with open(path, 'wb') as fh:
            pickle.dump(dict(metainfo=metainfo, data_list=infos), fh)
        out[split] = path
    out['summary'] = dict(
        frames=len(infos), skipped_bad_pose=skipped, skipped_few_points=empty,
        default_alignment=default_align,
        rendered_depth=sum(i['depth_source'] == 'rendered' for i in infos),
        points_mean=float(np.mean([i['num_points'] for i in infos])),
        labelled_ratio_mean=float(np.mean([i['labelled_ratio'] for i in infos])))
    return out
