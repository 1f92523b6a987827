"""Procedural ScanNet-format rooms: the embedded default dataset of ``make demo``.

Each room is a floor, four walls and 5–9 pieces of furniture (table, chair, cabinet, bed, sofa,
bookshelf) built from boxes, sampled as coloured surface points. It is written exactly like a
raw ScanNet scan so the real ``create_data`` path reads it:

    <root>/scans/<scene>/<scene>_vh_clean_2.ply            raw-frame vertices (x y z r g b)
    <root>/scans/<scene>/<scene>.txt                       axisAlignment (random z-rotation)
    <root>/scans/<scene>/<scene>_vh_clean_2.0.010000.segs.json   over-segmentation
    <root>/scans/<scene>/<scene>.aggregation.json          objects as groups of segments
    <root>/scannetv2-labels.combined.tsv                   rows for the categories used
    <root>/posed/posed_images/<scene>/<frame>.jpg|.png|.txt + intrinsic.txt   RGB-D frames

As in ScanNet, the annotation is made on segments (each segment goes to the object owning
most of its vertices), walls and floor are annotated objects, and semantic ids come from the
label map (ScanNet200 ``id`` and ``nyu40id`` columns, taken from :mod:`oneformer3d.metainfo`).
Frames are 640x480 renders (z-buffer) with ScanNet's nominal depth intrinsic.
"""
import json
import os
import os.path as osp
from typing import List

import numpy as np
from PIL import Image

from oneformer3d.geometry import render_points, transform_points
from oneformer3d.metainfo import SCANNET20, SCANNET200
from .superpoints import graph_superpoints

# category -> (ScanNet200 name, NYU40 / ScanNet-20 name)
CATEGORIES = {
    'wall': ('wall', 'wall'), 'floor': ('floor', 'floor'), 'table': ('table', 'table'),
    'chair': ('chair', 'chair'), 'cabinet': ('cabinet', 'cabinet'), 'bed': ('bed', 'bed'),
    'sofa': ('couch', 'sofa'), 'bookshelf': ('bookshelf', 'bookshelf'),
}
FURNITURE = ('table', 'chair', 'cabinet', 'bed', 'sofa', 'bookshelf')
INTRINSIC = np.array([[577.870605, 0, 319.5], [0, 577.870605, 239.5], [0, 0, 1]])
IMAGE_SIZE = (480, 640)


def label_ids(category: str):
    """(ScanNet200 raw id, NYU40 id) of a category, from the class tables."""
    n200, n20 = CATEGORIES[category]
    return (SCANNET200.seg_class_ids[SCANNET200.seg_class_names.index(n200)],
            SCANNET20.seg_class_ids[SCANNET20.seg_class_names.index(n20)])


def _box_surface(lo, hi, spacing, rng, skip_bottom=True):
    """Points on the faces of an axis-aligned box (bottom face optional)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    pts = []
    for axis in range(3):
        for side, val in ((0, lo[axis]), (1, hi[axis])):
            if axis == 2 and side == 0 and skip_bottom:
                continue
            others = [a for a in range(3) if a != axis]
            ext = hi[others] - lo[others]
            n = max(1, int(np.prod(np.maximum(ext, spacing)) / spacing ** 2))
            p = np.empty((n, 3))
            p[:, others] = lo[others] + rng.random((n, 2)) * ext
            p[:, axis] = val
            pts.append(p)
    return np.concatenate(pts)


def _furniture_parts(kind, size, rng) -> List[tuple]:
    """Boxes (lo, hi) in the object's frame (origin at the footprint's min corner, z up)."""
    dx, dy, dz = size
    if kind == 'table':
        t, leg = 0.05, 0.06
        parts = [((0, 0, dz - t), (dx, dy, dz))]
        parts += [((x, y, 0), (x + leg, y + leg, dz - t))
                  for x in (0, dx - leg) for y in (0, dy - leg)]
        return parts
    if kind == 'chair':
        seat, leg = 0.45, 0.04
        parts = [((0, 0, seat - 0.05), (dx, dy, seat)), ((0, dy - 0.06, seat), (dx, dy, dz))]
        parts += [((x, y, 0), (x + leg, y + leg, seat - 0.05))
                  for x in (0, dx - leg) for y in (0, dy - leg)]
        return parts
    if kind == 'sofa':
        return [((0, 0, 0), (dx, dy, 0.45)), ((0, dy - 0.2, 0.45), (dx, dy, dz)),
                ((0, 0, 0.45), (0.2, dy, 0.65)), ((dx - 0.2, 0, 0.45), (dx, dy, 0.65))]
    if kind == 'bed':
        return [((0, 0, 0), (dx, dy, 0.5)), ((0, dy - 0.08, 0.5), (dx, dy, dz))]
    if kind == 'bookshelf':
        parts = [((0, 0, 0), (dx, dy, dz))]
        return parts
    return [((0, 0, 0), (dx, dy, dz))]  # cabinet


SIZES = {'table': ((0.8, 1.6), (0.6, 1.0), (0.7, 0.8)), 'chair': ((0.4, 0.5), (0.4, 0.5), (0.8, 1.0)),
         'cabinet': ((0.5, 1.2), (0.4, 0.6), (0.6, 1.2)), 'bed': ((1.0, 1.6), (1.9, 2.1), (0.8, 1.0)),
         'sofa': ((1.5, 2.2), (0.8, 0.95), (0.8, 0.9)),
         'bookshelf': ((0.6, 1.0), (0.3, 0.4), (1.5, 2.0))}


def make_room(rng, spacing: float = 0.05):
    """One room. Returns (points (N, 6) float32 aligned frame, object id (N,), categories list
    indexed by object id)."""
    w, d, h = rng.uniform(4, 6), rng.uniform(4, 6), rng.uniform(2.4, 2.8)
    pts, obj, cats = [], [], []

    def add(p, category, color):
        col = np.clip(np.asarray(color) + rng.normal(0, 8, (len(p), 3)), 0, 255)
        pts.append(np.concatenate([p, col], 1))
        obj.append(np.full(len(p), len(cats)))
        cats.append(category)

    floor = np.concatenate([rng.random((int(w * d / spacing ** 2), 2)) * [w, d],
                            np.zeros((int(w * d / spacing ** 2), 1))], 1)
    add(floor, 'floor', rng.uniform(90, 170, 3))
    wall_color = rng.uniform(170, 235, 3)
    for lo, hi in (((0, 0, 0), (w, 0.0, h)), ((0, d, 0), (w, d, h)),
                   ((0, 0, 0), (0.0, d, h)), ((w, 0, 0), (w, d, h))):
        lo, hi = np.array(lo, float), np.array(hi, float)
        ext = hi - lo
        flat = int(np.argmin(ext))
        others = [a for a in range(3) if a != flat]
        n = int(np.prod(ext[others]) / spacing ** 2)
        p = np.empty((n, 3))
        p[:, others] = lo[others] + rng.random((n, 2)) * ext[others]
        p[:, flat] = lo[flat]
        add(p, 'wall', wall_color + rng.normal(0, 5, 3))
    footprints = []
    for _ in range(int(rng.integers(5, 10))):
        kind = FURNITURE[int(rng.integers(len(FURNITURE)))]
        size = [rng.uniform(*r) for r in SIZES[kind]]
        for _try in range(30):
            x, y = rng.uniform(0.1, w - size[0] - 0.1), rng.uniform(0.1, d - size[1] - 0.1)
            box = (x - 0.15, y - 0.15, x + size[0] + 0.15, y + size[1] + 0.15)
            if all(box[2] < f[0] or box[0] > f[2] or box[3] < f[1] or box[1] > f[3]
                   for f in footprints):
                footprints.append(box)
                parts = _furniture_parts(kind, size, rng)
                p = np.concatenate([_box_surface(lo, hi, spacing, rng) for lo, hi in parts])
                add(p + [x, y, 0], kind, rng.uniform(30, 230, 3))
                break
    points = np.concatenate(pts).astype(np.float32)
    return points, np.concatenate(obj), cats


def write_label_map(root: str) -> None:
    """The rows of ``scannetv2-labels.combined.tsv`` for the categories used."""
    lines = ['id\traw_category\tcategory\tcount\tnyu40id']
    for cat, (n200, _) in CATEGORIES.items():
        sid, nyu = label_ids(cat)
        lines.append(f'{sid}\t{cat}\t{n200}\t1\t{nyu}')
    with open(osp.join(root, 'scannetv2-labels.combined.tsv'), 'w') as fh:
        fh.write('\n'.join(lines) + '\n')


def _look_at(eye, target):
    """Camera-to-world pose (x right, y down, z forward) looking from ``eye`` at ``target``."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, z], 1)
    pose[:3, 3] = eye
    return pose


def write_scene(root: str, scene: str, rng, num_frames: int = 4) -> dict:
    """Generate one room and write it (see the module docstring). Returns a summary dict."""
    from plyfile import PlyData, PlyElement
    points, obj, cats = make_room(rng)
    angle = rng.uniform(0, 2 * np.pi)
    align = np.eye(4)  # raw -> aligned, as ScanNet's axisAlignment
    align[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    align[:2, 3] = rng.uniform(-2, 2, 2)
    raw = transform_points(points[:, :3].astype(np.float64), np.linalg.inv(align))
    d = osp.join(root, 'scans', scene)
    os.makedirs(d, exist_ok=True)
    v = np.empty(len(points), dtype=[('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'),
                                     ('green', 'u1'), ('blue', 'u1')])
    for k, name in enumerate(('x', 'y', 'z')):
        v[name] = raw[:, k]
    for k, name in enumerate(('red', 'green', 'blue')):
        v[name] = np.round(points[:, 3 + k]).astype(np.uint8)
    PlyData([PlyElement.describe(v, 'vertex')]).write(osp.join(d, f'{scene}_vh_clean_2.ply'))
    with open(osp.join(d, f'{scene}.txt'), 'w') as fh:
        fh.write('axisAlignment = ' + ' '.join(f'{x:.8f}' for x in align.reshape(-1)) + '\n')
    segs = graph_superpoints(points)
    with open(osp.join(d, f'{scene}_vh_clean_2.0.010000.segs.json'), 'w') as fh:
        json.dump({'sceneId': scene, 'segIndices': segs.tolist()}, fh)
    owner = np.array([np.bincount(obj[segs == s]).argmax() for s in range(segs.max() + 1)])
    groups = [dict(id=o, objectId=o, label=cats[o],
                   segments=np.flatnonzero(owner == o).tolist()) for o in range(len(cats))]
    with open(osp.join(d, f'{scene}.aggregation.json'), 'w') as fh:
        json.dump({'sceneId': scene, 'segGroups': [g for g in groups if g['segments']]}, fh)

    fdir = osp.join(root, 'posed', 'posed_images', scene)
    os.makedirs(fdir, exist_ok=True)
    np.savetxt(osp.join(fdir, 'intrinsic.txt'), np.pad(INTRINSIC, ((0, 1), (0, 1))) + np.diag(
        [0, 0, 0, 1.0]))
    lo, hi = points[:, :3].min(0), points[:, :3].max(0)
    centre = (lo + hi) / 2
    for f in range(num_frames):
        a = 2 * np.pi * f / num_frames + rng.uniform(-0.3, 0.3)
        eye = centre + [0.35 * (hi[0] - lo[0]) * np.cos(a), 0.35 * (hi[1] - lo[1]) * np.sin(a),
                        1.5 - centre[2]]
        target = centre + [-np.cos(a), -np.sin(a), 0.0] * np.array([1.0, 1.0, 0]) - [0, 0,
                                                                                       centre[2] - 0.8]
        pose_aligned = _look_at(eye, target)
        pose_raw = np.linalg.inv(align) @ pose_aligned
        depth, index = render_points(raw, INTRINSIC, pose_raw, IMAGE_SIZE, splat=3)
        color = np.zeros(IMAGE_SIZE + (3,), np.uint8)
        color[index >= 0] = np.round(points[index[index >= 0], 3:6]).astype(np.uint8)
        stem = osp.join(fdir, f'{f * 20:05d}')
        Image.fromarray(color).save(stem + '.jpg', quality=92)
        Image.fromarray(np.round(depth * 1000).astype(np.uint16)).save(stem + '.png')
        np.savetxt(stem + '.txt', pose_raw)
    return dict(scene=scene, points=len(points), objects=len(cats) - 5)


def make_demo_dataset(root: str, num_scenes: int = 6, num_val: int = 2,
                      seed: int = 0) -> List[dict]:
    """Write ``num_scenes`` rooms under ``root`` (skips scenes already written) and ScanNet
    split files ``scannetv2_{train,val}.txt`` (the last ``num_val`` rooms are val)."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    write_label_map(root)
    names = [f'scene{i:04d}_00' for i in range(num_scenes)]
    for split, part in (('train', names[:num_scenes - num_val]), ('val', names[-num_val:])):
        with open(osp.join(root, f'scannetv2_{split}.txt'), 'w') as fh:
            fh.write('\n'.join(part) + '\n')
    out = []
    for i in range(num_scenes):
        scene = f'scene{i:04d}_00'
        scene_rng = np.random.default_rng(rng.integers(1 << 31))
        if osp.isfile(osp.join(root, 'scans', scene, f'{scene}.aggregation.json')):
            continue
        out.append(write_scene(root, scene, scene_rng))
    return out
