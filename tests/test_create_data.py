"""create_data on the real ScanNet sample: outputs, superpoints, resume, raw layout, bad input."""
import json
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest

from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.datasets.preprocessing.superpoints import (graph_superpoints, kmeans_superpoints,
                                                             superpoint_purity)
from oneformer3d.metainfo import SCANNET20, read_label_map
from tests.conftest import data_path


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('scannet_sample'))
    res = create_scannet_infos(data_path('scannet', 'scans'), out, SCANNET20, 'scannet')
    return out, res


def test_outputs_and_infos(prepared):
    out, res = prepared
    scans = data_path('scannet', 'scans')
    with open(res['train'], 'rb') as fh:
        infos = pickle.load(fh)
    assert infos['metainfo']['dataset'] == 'scannet'
    assert [i['sample_idx'] for i in infos['data_list']] == ['scene0000_00', 'scene0000_01']
    info = infos['data_list'][0]
    assert info['lidar_points'] == dict(num_pts_feats=6, lidar_path='scene0000_00.bin')
    pts = read_bin(osp.join(out, 'points', 'scene0000_00.bin'), np.float32, 6)
    np.testing.assert_array_equal(pts, np.load(osp.join(scans, 'scene0000_00_vert.npy')))
    ins = read_bin(osp.join(out, 'instance_mask', 'scene0000_00.bin'), np.int64)
    np.testing.assert_array_equal(ins, np.load(osp.join(scans, 'scene0000_00_ins_label.npy')))
    sp = read_bin(osp.join(out, 'super_points', 'scene0000_00.bin'), np.int64)
    assert sp.min() == 0 and len(np.unique(sp)) == sp.max() + 1 == info['num_superpoints']
    assert info['superpoint_source'] == 'graph'
    # over-segmentation quality on the real scenes (measured 0.933 / 0.935;
    # docs/data_preparation.md)
    assert info['superpoint_purity'] > 0.92
    assert 3000 < info['num_superpoints'] < 12000


def test_superpoints_do_not_depend_on_labels():
    pts = np.load(osp.join(data_path('scannet', 'scans'), 'scene0000_00_vert.npy'))[:20000]
    for fn in (kmeans_superpoints, graph_superpoints):  # inputs are points only; deterministic
        a, b = fn(pts), fn(pts.copy())
        np.testing.assert_array_equal(a, b)
        assert superpoint_purity(a, np.zeros(len(a), int)) == 1.0


def test_resume_skips_done_scenes(prepared, monkeypatch):
    out, res = prepared
    import oneformer3d.datasets.preprocessing.scannet_scans as mod
    monkeypatch.setattr(mod, 'compute_superpoints',
                        lambda *a, **k: pytest.fail('a finished scene was recomputed'))
    again = create_scannet_infos(data_path('scannet', 'scans'), out, SCANNET20, 'scannet')
    assert again['summary'] == res['summary']


def _copy_scene(src, dst, scene='scene0000_00'):
    for suffix in ('_vert.npy', '_ins_label.npy', '_sem_label.npy'):
        shutil.copy(osp.join(src, scene + suffix), osp.join(dst, scene + suffix))


def test_bad_inputs_name_the_file(tmp_path):
    src = data_path('scannet', 'scans')
    root = tmp_path / 'scans'
    root.mkdir()
    _copy_scene(src, root)
    (root / 'scene0000_00_ins_label.npy').unlink()
    with pytest.raises(FileNotFoundError, match='scene0000_00_ins_label.npy'):
        create_scannet_infos(str(root), str(tmp_path / 'o1'), SCANNET20, 'scannet')
    _copy_scene(src, root)
    raw = (root / 'scene0000_00_vert.npy').read_bytes()
    (root / 'scene0000_00_vert.npy').write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match='scene0000_00_vert.npy.*(corrupt|truncated)'):
        create_scannet_infos(str(root), str(tmp_path / 'o2'), SCANNET20, 'scannet')
    _copy_scene(src, root)
    sem = np.load(root / 'scene0000_00_sem_label.npy').astype(np.int64)
    sem[:10] = 300  # not an NYU40 id
    np.save(root / 'scene0000_00_sem_label.npy', sem)
    with pytest.raises(ValueError, match='scene0000_00_sem_label.npy.*nyu40 label range'):
        create_scannet_infos(str(root), str(tmp_path / 'o3'), SCANNET20, 'scannet')


def test_truncated_bin_is_reported(prepared, tmp_path):
    out, _ = prepared
    src = osp.join(out, 'points', 'scene0000_00.bin')
    bad = tmp_path / 'scene.bin'
    bad.write_bytes(open(src, 'rb').read()[:-5])
    with pytest.raises(ValueError, match='scene.bin.*not a whole number'):
        read_bin(str(bad), np.float32, 6)
    with pytest.raises(FileNotFoundError, match='nothing.bin'):
        read_bin(str(tmp_path / 'nothing.bin'), np.float32, 6)


def test_raw_scannet_layout_from_real_scene(tmp_path):
    """Write scene0000_00 in ScanNet's raw layout (raw-frame mesh vertices, axisAlignment,
    segs.json from our over-segmentation, aggregation.json from its instances with label-map
    names) and check the reader recovers the aligned arrays and labels."""
    from plyfile import PlyData, PlyElement
    scans = data_path('scannet', 'scans')
    raw_xyzrgb = np.fromfile(data_path('scannet', 'scans_raw', 'scene0000_00.bin'),
                             np.float32).reshape(-1, 6)
    with open(data_path('scannet', 'posed', 'scannet_infos.pkl'), 'rb') as fh:
        align = pickle.load(fh)[0]['annos']['axis_align_matrix']
    aligned = np.load(osp.join(scans, 'scene0000_00_vert.npy'))
    ins = np.load(osp.join(scans, 'scene0000_00_ins_label.npy')).astype(int)
    sem = np.load(osp.join(scans, 'scene0000_00_sem_label.npy')).astype(int)
    label_map = read_label_map(data_path('scannet', 'scannetv2-labels.combined.tsv'))
    name_of_nyu = {}
    for raw_cat, v in label_map.items():
        name_of_nyu.setdefault(v['nyu40id'], raw_cat)

    d = tmp_path / 'scans' / 'scene0000_00'
    d.mkdir(parents=True)
    v = np.empty(len(raw_xyzrgb), dtype=[('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'),
                                          ('green', 'u1'), ('blue', 'u1')])
    for k, name in enumerate(('x', 'y', 'z', 'red', 'green', 'blue')):
        v[name] = raw_xyzrgb[:, k]
    PlyData([PlyElement.describe(v, 'vertex')]).write(str(d / 'scene0000_00_vh_clean_2.ply'))
    (d / 'scene0000_00.txt').write_text(
        'axisAlignment = ' + ' '.join(f'{x:.10f}' for x in align.reshape(-1)) + '\n')
    segs = graph_superpoints(aligned)
    (d / 'scene0000_00_vh_clean_2.0.010000.segs.json').write_text(
        json.dumps({'segIndices': segs.tolist()}))
    groups = []
    for obj, i in enumerate(i for i in np.unique(ins) if i > 0):
        seg_ids = [int(s) for s in np.unique(segs[ins == i])
                   if np.bincount(ins[segs == s]).argmax() == i]
        groups.append(dict(objectId=obj, segments=seg_ids,
                           label=name_of_nyu[int(np.bincount(sem[ins == i]).argmax())]))
    (d / 'scene0000_00.aggregation.json').write_text(json.dumps({'segGroups': groups}))
    shutil.copy(data_path('scannet', 'scannetv2-labels.combined.tsv'), tmp_path)

    out = tmp_path / 'out'
    res = create_scannet_infos(str(tmp_path / 'scans'), str(out), SCANNET20, 'scannet')
    info = res['infos'][0]
    assert info['superpoint_source'] == 'segs'
    np.testing.assert_allclose(info['axis_align_matrix'], align)
    pts = read_bin(str(out / 'points' / 'scene0000_00.bin'), np.float32, 6)
    assert np.abs(pts[:, :3] - aligned[:, :3]).max() < 1e-4  # STACK: 1.2e-7 m in float64
    np.testing.assert_array_equal(pts[:, 3:], aligned[:, 3:])
    got_sem = read_bin(str(out / 'semantic_mask' / 'scene0000_00.bin'), np.int64)
    got_ins = read_bin(str(out / 'instance_mask' / 'scene0000_00.bin'), np.int64)
    # the reader's contract: every vertex of a group's segments gets objectId + 1 and the
    # group label's NYU40 id; everything else stays 0
    expect_ins = np.zeros_like(got_ins)
    expect_sem = np.zeros_like(got_sem)
    for g in groups:
        verts = np.isin(segs, g['segments'])
        expect_ins[verts] = g['objectId'] + 1
        expect_sem[verts] = label_map[g['label']]['nyu40id']
    np.testing.assert_array_equal(got_ins, expect_ins)
    np.testing.assert_array_equal(got_sem, expect_sem)
    # and they agree with the real labels up to superpoint impurity (purity ~0.89)
    labelled = got_ins > 0
    assert (got_sem[labelled] == sem[labelled]).mean() > 0.85
