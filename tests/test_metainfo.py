"""Class tables: counts, known ids, and agreement with ScanNet's official label map."""
import numpy as np
import pytest

from oneformer3d.metainfo import SCANNET20, SCANNET200, get_class_table, read_label_map
from tests.conftest import data_path


def test_counts_and_known_ids():
    assert SCANNET200.num_seg_classes == 200 and SCANNET200.num_inst_classes == 198
    assert SCANNET20.num_seg_classes == 20 and SCANNET20.num_inst_classes == 18
    assert [len(SCANNET200.splits[k]) for k in ('head', 'common', 'tail')] == [66, 68, 66]
    assert set().union(*SCANNET200.splits.values()) == set(SCANNET200.seg_class_names)
    names200 = dict(zip(SCANNET200.seg_class_ids, SCANNET200.seg_class_names))
    assert (names200[1], names200[2], names200[3], names200[1191]) == \
        ('wall', 'chair', 'floor', 'mattress')
    assert 'wall' not in SCANNET200.inst_class_names and 'floor' not in SCANNET200.inst_class_names
    assert SCANNET20.inst_class_names[0] == 'cabinet' and SCANNET20.seg_class_ids[-1] == 39
    assert get_class_table('scannet') is SCANNET20
    with pytest.raises(KeyError, match='unknown class table'):
        get_class_table('s3dis')


def test_tables_agree_with_official_label_map():
    lm = read_label_map(data_path('scannet', 'scannetv2-labels.combined.tsv'))
    category_of_id = {v['id']: v['category'] for v in lm.values()}
    for cid, name in zip(SCANNET200.seg_class_ids, SCANNET200.seg_class_names):
        assert category_of_id[cid] == name
    nyu_of_category = {v['category']: v['nyu40id'] for v in lm.values()}
    assert nyu_of_category['chair'] == 5 and 5 in SCANNET20.seg_class_ids


def test_raw_to_train_ids():
    raw = np.array([0, 1, 3, 2, 1191, 12, 20])
    seg = SCANNET200.map_raw_to_seg(raw)
    assert seg.tolist() == [200, 0, 2, 1, 199, 200, 200]  # 12 and 20 are not ScanNet200 ids
    assert SCANNET200.seg_to_inst[seg].tolist() == [-1, -1, -1, 0, 197, -1, -1]
    nyu = SCANNET20.map_raw_to_seg(np.array([1, 2, 3, 39, 13, 0, 40]), on_unknown='raise')
    assert nyu.tolist() == [0, 1, 2, 19, 20, 20, 20]  # 40 = otherprop: valid, not a class
    with pytest.raises(ValueError, match='outside the nyu40 label range'):
        SCANNET20.map_raw_to_seg(np.array([1, 40, 41, -3]), on_unknown='raise')
