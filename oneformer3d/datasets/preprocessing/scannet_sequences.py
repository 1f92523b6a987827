"""``create_data.py scannet200_mv|scannet_mv|sevenscenes_mv``: posed RGB-D sequences (ESAM MV).

One info per scene: the kept frames in order (every ``frame_interval``-th posed frame; ESAM
uses every 40th raw ScanNet frame), each with its own point cloud (back-projected depth,
axis-aligned world frame shared by all frames of the scene — not centred — at most
``max_points`` points), per-frame superpoints, and instance ids that are the scan's instance
ids and therefore consistent across the scene. ``poses`` map each frame's camera to that
common frame (``axis_align @ pose_raw``).

For evaluation the reconstructed scan is written once per scene (``scans/<scene>.bin`` points
(N, 6) aligned, ``scans/<scene>_ins.bin``, ``scans/<scene>_sem.bin`` int64) and its paths are
stored in the info (``scan_path``, ``scan_instance_mask_path``, ``scan_semantic_mask_path``) —
no hard-coded location.

A folder of unlabeled RGB-D frames (7-Scenes: ``frame-XXXXXX.color.jpg``, ``.depth.png``
(uint16 mm, 65535 = invalid), ``.pose.txt`` camera-to-world, ``camera-intrinsics.txt``) gives
inference-only infos: no masks, no scan, ``metainfo['labelled'] = False``.
"""
import glob
import logging
import os
import os.path as osp
import pickle
from typing import List, Optional

import numpy as np
from PIL import Image
from tqdm import tqdm

from oneformer3d.geometry import backproject_depth, check_pose
from oneformer3d.metainfo import ClassTable
from .scannet_io import write_bin
from .posed_frames import apply_axis_alignment, list_frames
from .frame_workers import frame_rng, map_frames
from .scannet_frames import (ScanCache, alignment_source, check_on_scan, frame_cloud,
                             transfer_labels)
from .scannet_scans import INFO_VERSION, SUBDIRS
from .superpoints import compute_superpoints

logger = logging.getLogger('oneformer3d')


def _write_frame(out_dir, name, xyz, rgb, masks: Optional[dict], superpoints: str) -> dict:
    points = np.concatenate([xyz, rgb], axis=1).astype(np.float32)
    method = 'kmeans' if superpoints == 'kmeans' else 'graph'
    sp = compute_superpoints(points, method) if len(points) else np.zeros(0, np.int64)
    for d in SUBDIRS.values():
        os.makedirs(osp.join(out_dir, d), exist_ok=True)
    write_bin(osp.join(out_dir, SUBDIRS['points'], f'{name}.bin'), points, np.float32)
    write_bin(osp.join(out_dir, SUBDIRS['superpoints'], f'{name}.bin'), sp, np.int64)
    if masks is not None:
        write_bin(osp.join(out_dir, SUBDIRS['instance'], f'{name}.bin'), masks['ins'], np.int64)
        write_bin(osp.join(out_dir, SUBDIRS['semantic'], f'{name}.bin'), masks['sem'], np.int64)
    return dict(num_points=int(len(points)), superpoint_source=method)


def _dump(out_dir, tag, infos, metainfo) -> dict:
    out = dict(infos=infos)
    for split in ('train', 'val'):
        path = osp.join(out_dir, f'{tag}_oneformer3d_infos_{split}.pkl')
        with open(path, 'wb') as fh:
            pickle.dump(dict(metainfo=metainfo, data_list=infos), fh)
        out[split] = path
    return out


def mv_frame(fr: dict, scans: ScanCache, out_dir: str, max_points: int, label_radius: float,
             superpoints: str, seed: int, min_points: int = 100) -> dict:
    """One frame of :func:`create_scannet_mv_infos` (run by :func:`.frame_workers.map_frames`):
    writes its files, and the scene's scan when ``fr['write_scan']``; returns its entries of
    the sequence info, or ``{'skip': why}`` for an unusable pose or a frame whose depth gives
    fewer than ``min_points`` points.

    Raises:
        ValueError: its points do not land on the scan (:func:`.scannet_frames.check_on_scan`).
    """
    scene = fr['scene']
    scan, tree = scans.get(scene, fr['img_path'])
    if fr.get('write_scan'):
        os.makedirs(osp.join(out_dir, 'scans'), exist_ok=True)
        write_bin(osp.join(out_dir, 'scans', f'{scene}.bin'), scan['points'], np.float32)
        write_bin(osp.join(out_dir, 'scans', f'{scene}_ins.bin'), scan['instance'], np.int64)
        write_bin(osp.join(out_dir, 'scans', f'{scene}_sem.bin'), scan['semantic'], np.int64)
    why = check_pose(fr['pose'])
    if why is not None:
        return dict(skip=why)
    cloud = frame_cloud(fr, scan, out_dir, max_points, frame_rng(seed, scene, fr['frame']))
    if len(cloud['xyz']) < min_points:
        return dict(skip=f'fewer than {min_points} points from its depth', few_points=True)
    align_source = alignment_source(fr, scan)
    dist, nn = tree.query(cloud['xyz'])
    distance = check_on_scan(dist, fr, align_source)
    ins, sem, _ = transfer_labels(dist, nn, scan, label_radius)
    meta = _write_frame(out_dir, f'{scene}_{fr["frame"]}', cloud['xyz'], cloud['rgb'],
                        dict(ins=ins, sem=sem), superpoints)
    return dict(skip=None, distance=distance, pose=cloud['align'] @ fr['pose'],
                depth_path=cloud['depth_path'], depth_source=cloud['depth_source'],
                depth_intrinsic=cloud['depth_intrinsic'], align=cloud['align'],
                align_source=align_source, **meta)


def create_scannet_mv_infos(root: str, out_dir: str, table: ClassTable, tag: str,
                            posed_dir: Optional[str] = None, frame_interval: int = 1,
                            max_points: int = 20000, superpoints: str = 'auto',
                            scenes: Optional[List[str]] = None, label_radius: float = 0.05,
                            seed: int = 0, axis_align: Optional[str] = None,
                            workers: int = 1, min_points: int = 100) -> dict:
    """One sequence info per scene from ``<root>/posed`` frames and ``<root>/scans``
    (``axis_align``: see :func:`~.posed_frames.apply_axis_alignment`); ``workers`` processes
    convert the frames (:mod:`.frame_workers`, byte-identical output). Every frame is
    rewritten (no skip-existing).

    Raises:
        ValueError: a frame whose points do not land on the scan
            (:func:`~.scannet_frames.check_on_scan`).
    """
    frames = apply_axis_alignment(list_frames(posed_dir or osp.join(root, 'posed')),
                                  axis_align)
    if scenes:
        frames = [f for f in frames if f['scene'] in scenes]
    by_scene = {}
    for fr in frames:
        by_scene.setdefault(fr['scene'], []).append(fr)
    kept = []
    for seq in by_scene.values():
        seq = [dict(fr) for fr in seq[::max(1, frame_interval)]]
        seq[0]['write_scan'] = True
        kept += seq
    results = map_frames(mv_frame, kept, root, table, workers, f'create_data {tag}',
                         out_dir=out_dir, max_points=max_points, label_radius=label_radius,
                         superpoints=superpoints, seed=seed, min_points=min_points)
    rel = lambda p: osp.relpath(osp.abspath(p), osp.abspath(out_dir))  # noqa: E731
    seqs, skipped, few = {}, 0, 0
    for fr, res in zip(kept, results):
        if res['skip'] is not None:
            few += bool(res.get('few_points'))
            skipped += not res.get('few_points')
            logger.warning(f'{fr["img_path"]}: {res["skip"]}; frame skipped '
                           f'({skipped + few} so far)')
            continue
        scene, name = fr['scene'], f'{fr["scene"]}_{fr["frame"]}.bin'
        info = seqs.setdefault(scene, dict(
            sample_idx=scene, scene_id=scene, frame_ids=[], lidar_paths=[],
            pts_instance_mask_paths=[], pts_semantic_mask_paths=[], super_pts_paths=[],
            img_paths=[], depth_paths=[], poses=[], num_points=[], depth_source=[],
            scan_distance_median=[]))
        for key in ('lidar_paths', 'pts_instance_mask_paths', 'pts_semantic_mask_paths',
                    'super_pts_paths'):
            info[key].append(name)
        info['frame_ids'].append(fr['frame'])
        info['img_paths'].append(rel(fr['img_path']))
        for key, value in (('depth_paths', rel(res['depth_path'])), ('poses', res['pose']),
                           ('num_points', res['num_points']),
                           ('depth_source', res['depth_source']),
                           ('scan_distance_median', res['distance'])):
            info[key].append(value)
        info.update(intrinsic=np.asarray(fr['intrinsic'], np.float64)[:3, :3],
                    depth_intrinsic=res['depth_intrinsic'], axis_align_matrix=res['align'],
                    axis_align_source=res['align_source'],
                    superpoint_source=res['superpoint_source'])
    infos = []
    for scene, info in seqs.items():
        info.update(poses=np.stack(info['poses']), scan_path=f'scans/{scene}.bin',
                    scan_instance_mask_path=f'scans/{scene}_ins.bin',
                    scan_semantic_mask_path=f'scans/{scene}_sem.bin')
        infos.append(info)
    if not infos:
        raise ValueError(f'{root}: no usable sequence ({skipped} frames skipped for bad poses, '
                         f'{few} with fewer than {min_points} points)')
    metainfo = dict(table.metainfo(), info_version=INFO_VERSION, data_kind='multi_view',
                    labelled=True)
    out = _dump(out_dir, tag, infos, metainfo)
    out['summary'] = dict(scenes=len(infos), frames=sum(len(i['frame_ids']) for i in infos),
                          skipped_bad_pose=skipped, skipped_few_points=few,
                          points_mean=float(np.mean(sum((i['num_points'] for i in infos), []))))
    return out


def create_rgbd_sequence_infos(root: str, out_dir: str, table: ClassTable, tag: str,
                               frame_interval: int = 1, max_points: int = 20000,
                               superpoints: str = 'auto', seed: int = 0, **_) -> dict:
    """Inference-only infos for one folder of unlabeled posed RGB-D frames (7-Scenes)."""
    k_path = osp.join(root, 'camera-intrinsics.txt')
    if not osp.isfile(k_path):
        raise FileNotFoundError(f'{k_path}: missing camera intrinsics')
    k = np.loadtxt(k_path)
    colours = sorted(glob.glob(osp.join(root, 'frame-*.color.*')))[::max(1, frame_interval)]
    if not colours:
        raise FileNotFoundError(f'{root}: no frame-*.color.* images')
    scene = osp.basename(osp.normpath(root))
    rng = np.random.default_rng(seed)
    rel = lambda p: osp.relpath(osp.abspath(p), osp.abspath(out_dir))  # noqa: E731
    info = dict(sample_idx=scene, scene_id=scene, frame_ids=[], lidar_paths=[],
                super_pts_paths=[], img_paths=[], depth_paths=[], poses=[], num_points=[],
                intrinsic=k, depth_intrinsic=k, axis_align_matrix=np.eye(4))
    skipped = 0
    for colour in tqdm(colours, desc=f'create_data {tag}', unit='frame'):
        stem = colour.split('.color.')[0]
        frame = osp.basename(stem)
        pose = np.loadtxt(f'{stem}.pose.txt')
        why = check_pose(pose)
        if why is not None:
            skipped += 1
            logger.warning(f'{stem}.pose.txt: {why}; frame skipped ({skipped} so far)')
            continue
        try:
            depth = np.asarray(Image.open(f'{stem}.depth.png'), np.float32)
        except (OSError, FileNotFoundError) as err:
            raise FileNotFoundError(f'{stem}.depth.png: unreadable depth ({err})') from None
        depth[depth >= 65535] = 0
        xyz, pix = backproject_depth(depth / 1000.0, k, pose)
        if len(xyz) > max_points:
            keep = np.sort(rng.choice(len(xyz), max_points, replace=False))
            xyz, pix = xyz[keep], pix[keep]
        img = np.asarray(Image.open(colour).convert('RGB'))
        rgb = img[np.clip(pix[:, 1], 0, img.shape[0] - 1),
                  np.clip(pix[:, 0], 0, img.shape[1] - 1)].astype(np.float32)
        name = f'{scene}_{frame}'
        meta = _write_frame(out_dir, name, xyz.astype(np.float64), rgb, None, superpoints)
        info['frame_ids'].append(frame)
        info['lidar_paths'].append(f'{name}.bin')
        info['super_pts_paths'].append(f'{name}.bin')
        info['img_paths'].append(rel(colour))
        info['depth_paths'].append(rel(f'{stem}.depth.png'))
        info['poses'].append(pose)
        info['num_points'].append(meta['num_points'])
    info['poses'] = np.stack(info['poses'])
    metainfo = dict(table.metainfo(), info_version=INFO_VERSION, data_kind='multi_view',
                    labelled=False)
    out = _dump(out_dir, tag, [info], metainfo)
    out['summary'] = dict(scenes=1, frames=len(info['frame_ids']), skipped_bad_pose=skipped,
                          points_mean=float(np.mean(info['num_points'])))
    return out
