"""create_data scannet_sv on the shared posed frames of scene0000_00 (no depth: rendered)."""
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import cKDTree

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.geometry import project_points
from oneformer3d.metainfo import SCANNET20
from tests.conftest import data_path


@pytest.fixture(scope='module')
def sv(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('sv'))
    return out, create_scannet_sv_infos(data_path('scannet'), out, SCANNET20, 'scannet_sv')


def test_frames_are_centred_labelled_and_pose_consistent(sv):
    out, res = sv
    assert res['summary']['frames'] == 3 and res['summary']['rendered_depth'] == 3
    scan = np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy'))
    tree = cKDTree(scan[:, :3])
    for info in res['infos']:
        pts = read_bin(osp.join(out, 'points', info['lidar_points']['lidar_path']), np.float32, 6)
        assert 10000 <= len(pts) <= 20000
        np.testing.assert_allclose(pts[:, :3].mean(0), 0, atol=1e-3)
        assert info['depth_source'] == 'rendered'
        depth = np.asarray(Image.open(osp.join(out, info['depth_path'])))
        # 3.4k-8.6k scan vertices are visible per frame (data README): ~27 % of pixels covered
        assert depth.dtype == np.uint16 and depth.shape == (480, 640) and (depth > 0).mean() > 0.2
        # the stored pose maps the centred frame points back onto the colour image, and the
        # image colour there matches the *scan's* colour of the same surface point
        img = np.asarray(Image.open(osp.join(out, info['img_path'])).convert('RGB'), np.float32)
        uv, z = project_points(pts, info['intrinsic'], info['pose'])
        u, v = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
        ok = (z > 0) & (u >= 0) & (u < img.shape[1]) & (v >= 0) & (v < img.shape[0])
        assert ok.mean() > 0.99
        world = pts[:, :3] + info['centre']
        _, nn = tree.query(world[ok])
        diff = np.abs(img[v[ok], u[ok]] - scan[nn, 3:]).mean()
        shuffled = np.abs(img[v[ok], u[ok]] - scan[np.random.permutation(nn), 3:]).mean()
        assert diff < 0.6 * shuffled, (diff, shuffled)  # README: ~26-31 vs ~65 shuffled
        ins = read_bin(osp.join(out, 'instance_mask', info['pts_instance_mask_path']), np.int64)
        assert info['labelled_ratio'] > 0.9 and len(np.unique(ins[ins > 0])) >= 5


def test_nan_pose_is_skipped_and_counted(tmp_path):
    root = tmp_path / 'scannet'
    shutil.copytree(data_path('scannet', 'scans'), root / 'scans')
    posed = root / 'posed'
    shutil.copytree(data_path('scannet', 'posed', 'posed_images'), posed / 'posed_images')
    with open(data_path('scannet', 'posed', 'scannet_infos.pkl'), 'rb') as fh:
        infos = pickle.load(fh)
    infos[0]['extrinsics'][1] = np.full((4, 4), np.nan)
    with open(posed / 'scannet_infos.pkl', 'wb') as fh:
        pickle.dump(infos, fh)
    res = create_scannet_sv_infos(str(root), str(tmp_path / 'out'), SCANNET20, 'scannet_sv',
                                  max_points=2000)
    assert res['summary']['skipped_bad_pose'] == 1 and res['summary']['frames'] == 2
    assert [i['frame_id'] for i in res['infos']] == ['00000', '00102']


def test_posed_txt_without_alignment_warns_and_empty_frames_are_dropped(tmp_path, caplog):
    """posed_images/<scene>/<frame>.txt poses (raw ScanNet frame) over scan arrays without an
    axis-alignment file: identity is assumed with a warning naming the scene and the frames
    are counted; a frame whose camera sees nothing (moved 100 m away) yields no points and is
    dropped and counted instead of becoming a 0-point sample."""
    import logging
    root = tmp_path / 'scannet'
    shutil.copytree(data_path('scannet', 'scans'), root / 'scans')
    # scan arrays in the raw frame (the same vertices, data README): identity is then right
    raw = np.fromfile(data_path('scannet', 'scans_raw', 'scene0000_00.bin'),
                      np.float32).reshape(-1, 6)
    np.save(root / 'scans' / 'scene0000_00_vert.npy', raw)
    with open(data_path('scannet', 'posed', 'scannet_infos.pkl'), 'rb') as fh:
        info = pickle.load(fh)[0]
    scene_dir = root / 'posed' / 'posed_images' / 'scene0000_00'
    scene_dir.mkdir(parents=True)
    np.savetxt(scene_dir / 'intrinsic.txt', info['intrinsics'])
    for k, (img, pose) in enumerate(zip(info['img_paths'], info['extrinsics'])):
        stem = osp.splitext(osp.basename(img))[0]
        shutil.copy(data_path('scannet', 'posed', img), scene_dir / f'{stem}.jpg')
        pose = np.array(pose, dtype=np.float64)
        if k == 2:
            pose[:3, 3] += 100.0            # looks at empty space
        np.savetxt(scene_dir / f'{stem}.txt', pose)
    with caplog.at_level(logging.WARNING, logger='oneformer3d'):
        res = create_scannet_sv_infos(str(root), str(tmp_path / 'out'), SCANNET20,
                                      'scannet_sv', max_points=2000)
    s = res['summary']
    assert s['frames'] == 2 and s['skipped_few_points'] == 1 and s['default_alignment'] == 3
    text = caplog.text
    assert 'scene0000_00: no axis alignment for the posed frames' in text
    assert '00102.jpg: fewer than 100 points from its depth; frame skipped' in text
    assert [i['frame_id'] for i in res['infos']] == ['00000', '00011']
