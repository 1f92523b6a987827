"""The real RGB-D sequence of scene0000_00 (sensor depth, poses in the raw ScanNet frame):
create_data reads the axis alignment from the scene's meta file, every frame's points land on
the aligned scan, and the labels agree with the raw mesh's; without the meta file it stops,
naming the frame and the distance, instead of transferring labels across a misalignment."""
import os.path as osp
import pickle

import numpy as np
import pytest
from scipy.spatial import cKDTree

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.datasets.preprocessing.scannet_sequences import create_scannet_mv_infos
from oneformer3d.metainfo import SCANNET20
from tests.conftest import call_tool, data_path, posed_subset


def meta_alignment(path):
    """axisAlignment of a ScanNet meta file, parsed here (not by the code under test)."""
    for line in open(path):
        if line.startswith('axisAlignment'):
            return np.array(line.split('=')[1].split(), dtype=np.float64).reshape(4, 4)
    raise AssertionError(path)


def posed_without_meta(tmp_path):
    """The sequence's posed_images/ without the scene meta file beside it."""
    return posed_subset(str(tmp_path / 'posed_no_meta'), frames=None, meta=False)


def test_sv_frames_land_on_the_scan_and_agree_with_the_raw_mesh(tmp_path):
    posed = data_path('scannet', 'posed_rgbd')
    align = meta_alignment(osp.join(posed, 'scene0000_00.txt'))
    out = str(tmp_path / 'sv')
    res = create_scannet_sv_infos(data_path('scannet'), out, SCANNET20, 'scannet_sv',
                                  posed_dir=posed, frame_interval=12, max_points=5000)
    assert res['summary']['frames'] == 5 and res['summary']['rendered_depth'] == 0
    raw = np.fromfile(data_path('scannet', 'scans_raw', 'scene0000_00.bin'),
                      np.float32).reshape(-1, 6)
    ins_raw = np.load(data_path('scannet', 'scans', 'scene0000_00_ins_label.npy'))
    tree = cKDTree(raw[:, :3])
    for info in res['infos']:
        assert info['axis_align_source'].endswith('scene0000_00.txt')
        assert info['scan_distance_median'] < 0.04
        np.testing.assert_allclose(info['axis_align_matrix'], align, atol=1e-6)
        pts = read_bin(osp.join(out, 'points', info['lidar_points']['lidar_path']),
                       np.float32, 6)
        ins = read_bin(osp.join(out, 'instance_mask', info['pts_instance_mask_path']),
                       np.int64)
        # back to the raw frame with the meta file's matrix, labelled by the raw mesh
        xyz = pts[:, :3].astype(np.float64) + info['centre']
        xyz_raw = (xyz - align[:3, 3]) @ np.linalg.inv(align[:3, :3]).T
        dist, nn = tree.query(xyz_raw)
        expect = np.where(dist <= 0.05, ins_raw[nn], 0)
        assert (expect == ins).mean() >= 0.95, info['sample_idx']
        assert len(np.unique(ins[ins > 0])) >= 5       # 9-12 instances per frame (data README)


def test_sv_without_the_meta_file_stops_naming_the_frame_and_the_distance(tmp_path):
    with pytest.raises(ValueError, match=r'00000\.jpg: its back-projected points lie a median '
                                         r'\d+\.\d cm from the scan.*identity \(assumed'):
        create_scannet_sv_infos(data_path('scannet'), str(tmp_path / 'sv'), SCANNET20,
                                'scannet_sv', posed_dir=posed_without_meta(tmp_path),
                                frame_interval=20, max_points=2000)
    assert not osp.exists(tmp_path / 'sv' / 'scannet_sv_oneformer3d_infos_train.pkl')


def test_mv_sequence_records_the_alignment_and_refuses_a_misaligned_one(tmp_path):
    posed = data_path('scannet', 'posed_rgbd')
    res = create_scannet_mv_infos(data_path('scannet'), str(tmp_path / 'mv'), SCANNET20,
                                  'scannet_mv', posed_dir=posed, frame_interval=20,
                                  max_points=2000)
    info = res['infos'][0]
    assert len(info['frame_ids']) == 3 and info['axis_align_source'].endswith('scene0000_00.txt')
    assert max(info['scan_distance_median']) < 0.04
    with pytest.raises(ValueError, match='from the scan of scene0000_00'):
        create_scannet_mv_infos(data_path('scannet'), str(tmp_path / 'mv2'), SCANNET20,
                                'scannet_mv', posed_dir=posed_without_meta(tmp_path),
                                frame_interval=20, max_points=2000)


def test_an_explicit_alignment_is_used_and_recorded(tmp_path):
    """--axis-align: the meta file given on the command line (no meta file beside the frames)
    aligns every frame; a file that is not a 4x4 matrix is named."""
    meta = data_path('scannet', 'posed_rgbd', 'scene0000_00.txt')
    posed = posed_without_meta(tmp_path)
    out = tmp_path / 'sv'
    rc, log = call_tool('create_data', 'scannet_sv', '--root-path', data_path('scannet'),
                        '--posed-dir', posed, '--out-dir', out, '--axis-align', meta,
                        '--frame-interval', '30', '--max-points', '2000')
    assert rc == 0, log[-2000:]
    with open(out / 'scannet_sv_oneformer3d_infos_train.pkl', 'rb') as fh:
        infos = pickle.load(fh)['data_list']
    assert len(infos) == 2
    assert all(i['axis_align_source'] == f'--axis-align {meta}' for i in infos)
    bad = tmp_path / 'bad.txt'
    bad.write_text('1 0 0\n0 1 0\n')
    with pytest.raises(ValueError, match=r'--axis-align .*bad\.txt: a \(2, 3\) array'):
        create_scannet_sv_infos(data_path('scannet'), str(tmp_path / 'sv2'), SCANNET20,
                                'scannet_sv', posed_dir=posed, axis_align=str(bad))
