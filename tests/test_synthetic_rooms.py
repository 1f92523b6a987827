"""The embedded demo data: procedural rooms written in raw ScanNet format, read back by the
real create_data path (raw layout + label map + posed RGB-D frames)."""
import json
import os.path as osp

import numpy as np
import pytest

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.datasets.preprocessing.synthetic_rooms import label_ids, make_demo_dataset
from oneformer3d.metainfo import SCANNET20, SCANNET200


@pytest.fixture(scope='module')
def rooms(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('rooms'))
    make_demo_dataset(root, num_scenes=2, num_val=1, seed=1)
    return root


def test_rooms_read_back_through_raw_scannet_path(rooms, tmp_path):
    res = create_scannet_infos(osp.join(rooms, 'scans'), str(tmp_path / 'o'), SCANNET20,
                               'scannet', split_dir=rooms)
    assert [i['sample_idx'] for i in res['infos']] == ['scene0000_00', 'scene0001_00']
    with open(osp.join(rooms, 'scans', 'scene0000_00', 'scene0000_00.aggregation.json')) as fh:
        groups = json.load(fh)['segGroups']
    ins = read_bin(str(tmp_path / 'o' / 'instance_mask' / 'scene0000_00.bin'), np.int64)
    sem = read_bin(str(tmp_path / 'o' / 'semantic_mask' / 'scene0000_00.bin'), np.int64)
    assert len(np.unique(ins[ins > 0])) == len(groups) >= 5 + 5  # floor + 4 walls + furniture
    for g in groups:  # each object's NYU40 id comes from the label map the generator wrote
        assert set(np.unique(sem[ins == g['objectId'] + 1])) == {label_ids(g['label'])[1]}
    assert res['infos'][0]['superpoint_source'] == 'segs'
    pts = read_bin(str(tmp_path / 'o' / 'points' / 'scene0000_00.bin'), np.float32, 6)
    assert abs(pts[:, 2].min()) < 1e-3  # axis-aligned back onto the floor plane z = 0


def test_rooms_frames_and_scannet200_ids(rooms, tmp_path):
    res = create_scannet_sv_infos(rooms, str(tmp_path / 'sv'), SCANNET20, 'scannet_sv',
                                  max_points=5000)
    s = res['summary']
    assert s['frames'] == 8 and s['rendered_depth'] == 0 and s['labelled_ratio_mean'] > 0.95
    table_ids = dict(zip(SCANNET200.seg_class_names, SCANNET200.seg_class_ids))
    assert label_ids('sofa')[0] == table_ids['couch'] and label_ids('chair') == (2, 5)


def test_rooms_with_the_scannet200_table(rooms, tmp_path):
    """The raw path reads ScanNet200 raw ids (label map 'id' column) for the scannet200 tag."""
    res = create_scannet_infos(osp.join(rooms, 'scans'), str(tmp_path / 'o'), SCANNET200,
                               'scannet200', split_dir=rooms)
    sem = read_bin(str(tmp_path / 'o' / 'semantic_mask' / 'scene0000_00.bin'), np.int64)
    expected = {label_ids(c)[0] for c in ('wall', 'floor', 'table', 'chair', 'cabinet', 'bed',
                                          'sofa', 'bookshelf')}
    assert set(np.unique(sem)) <= expected | {0} and {1, 3} <= set(np.unique(sem))
    assert res['infos'][0]['num_superpoints'] > 100
