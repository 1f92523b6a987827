"""Dataset + transforms + preprocessor on the real prepared ScanNet sample."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.datasets import ScanNet200SegDataset, ScanNetSegDataset
from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
from oneformer3d.datasets.transforms import (ElasticTransform, GlobalRotScaleTrans,
                                             RandomFlip3D)
from oneformer3d.metainfo import SCANNET20
from oneformer3d.models import Det3DDataPreprocessor
from tests.conftest import data_path

init_default_scope('oneformer3d')

PIPELINE = [
    dict(type='LoadPointsFromFile'), dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'), dict(type='PointInstClassMapping'),
    dict(type='NormalizePointsColor'), dict(type='Pack3DDetInputs')]


@pytest.fixture(scope='module')
def sample_root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('prepared'))
    create_scannet_infos(data_path('scannet', 'scans'), out, SCANNET20, 'scannet')
    return out


def test_dataset_and_pipeline(sample_root):
    ds = ScanNetSegDataset(data_root=sample_root, ann_file='scannet_oneformer3d_infos_train.pkl',
                           pipeline=PIPELINE)
    assert len(ds) == 2 and ds.metainfo['classes'][0] == 'cabinet'
    item = ds[0]
    pts = item['inputs']['points']
    seg = item['data_samples'].gt_pts_seg
    assert pts.shape == (81369, 6) and pts.dtype == torch.float32
    assert pts[:, 3:].abs().max() <= 1.0  # colours normalised
    sem = seg.pts_semantic_mask
    assert sem.min() >= 0 and sem.max() <= 20
    # GT instances = (id > 0, instance class) pairs of the raw scene, numbered 1..G
    raw_ins = np.load(data_path('scannet', 'scans', 'scene0000_00_ins_label.npy')).astype(int)
    raw_sem = np.load(data_path('scannet', 'scans', 'scene0000_00_sem_label.npy')).astype(int)
    inst_cls = SCANNET20.seg_to_inst[SCANNET20.map_raw_to_seg(raw_sem)]
    expected = len(np.unique(raw_ins[(raw_ins > 0) & (inst_cls >= 0)]))
    labels = item['data_samples'].gt_instances_3d.labels_3d
    assert len(labels) == expected == int(seg.pts_instance_mask.max())
    assert ((seg.pts_instance_mask > 0) == torch.from_numpy((raw_ins > 0) & (inst_cls >= 0))).all()


def test_wrong_table_is_refused(sample_root):
    with pytest.raises(ValueError, match=r"infos_train.pkl.*'scannet'.*'scannet200'"):
        ScanNet200SegDataset(data_root=sample_root,
                             ann_file='scannet_oneformer3d_infos_train.pkl', pipeline=[])


def test_rigid_augmentations_are_invertible():
    rng_pts = np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy'))[:5000]
    results = dict(points=rng_pts.copy(), aug_matrix=np.eye(4))
    np.random.seed(3)
    for t in (GlobalRotScaleTrans(translation_std=(0.1, 0.1, 0.1)), RandomFlip3D(1.0, 1.0)):
        results = t(results)
    m = results['aug_matrix']
    back = (results['points'][:, :3].astype(np.float64) - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T
    np.testing.assert_allclose(back, rng_pts[:, :3], atol=1e-4)
    assert not np.allclose(results['points'][:, :3], rng_pts[:, :3])
    e = ElasticTransform(p=1.0)(dict(points=rng_pts.copy()))
    # a smooth deformation: large overall (OneFormer3D's magnitudes), nearly equal for
    # neighbouring points, so local shape survives
    from scipy.spatial import cKDTree
    disp = e['elastic_offset']
    _, nn = cKDTree(rng_pts[:, :3]).query(rng_pts[:, :3], k=2)
    local = np.linalg.norm(disp - disp[nn[:, 1]], axis=1)
    assert np.median(np.linalg.norm(disp, axis=1)) > 0.02
    assert np.median(local) < 0.1 * np.median(np.linalg.norm(disp, axis=1))
    np.testing.assert_allclose(e['points'][:, :3] - e['elastic_offset'], rng_pts[:, :3],
                               atol=1e-4)


def test_preprocessor_voxelizes_on_input_device(sample_root):
    ds = ScanNetSegDataset(data_root=sample_root, ann_file='scannet_oneformer3d_infos_train.pkl',
                           pipeline=PIPELINE)
    batch = pseudo_collate([ds[0], ds[1]])
    out = Det3DDataPreprocessor(voxel_size=0.05)(batch)
    v = out['inputs']['voxels']
    coords, p2v = v['coordinates'], v['point2voxel']
    assert coords.dtype == torch.int32 and coords.device == batch['inputs']['points'][0].device
    assert len(torch.unique(coords, dim=0)) == len(coords)
    assert set(coords[:, 0].tolist()) == {0, 1}
    pts = out['inputs']['points'][1]
    expect = torch.floor(pts[:, :3] / 0.05).int()
    assert torch.equal(coords[p2v[1], 1:], expect) and (coords[p2v[1], 0] == 1).all()
    # voxel features are the mean colour of their points
    k = p2v[0][0]
    members = out['inputs']['points'][0][p2v[0] == k][:, 3:]
    torch.testing.assert_close(v['features'][k], members.mean(0))
