"""ESAM's GT boxes for the online model (``BboxCalculation``: each clip instance boxed over the
reconstructed scan, after the clip's augmentation): against the boxes shipped with the
ScanNet sample, under a hand-computed rotation, and against the frames' own points."""
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from oneformer3d.registry import DATASETS
from tests.conftest import data_path

init_default_scope('oneformer3d')


@pytest.fixture(scope='module')
def mv_root(mv_frames):
    return mv_frames           # the session's sequence (conftest.py), read only


def _sample(root, augment=()):
    pipeline = [dict(type='LoadAdjacentDataFromFile', num_frames=3),
                dict(type='PointSegClassMapping'), dict(type='PointInstClassMapping'),
                *augment, dict(type='ScanInstanceBoxes'), dict(type='Pack3DDetInputs')]
    ds = DATASETS.build(dict(type='ScanNetSegMVDataset', data_root=root,
                             ann_file='scannet_mv_oneformer3d_infos_train.pkl',
                             pipeline=pipeline))
    return ds[0]


def _shipped_boxes():
    boxes = np.load(data_path('scannet', 'scans', 'scene0000_00_bbox.npy'))
    ids = np.load(data_path('scannet', 'scans', 'scene0000_00_bbox_idx.npy')).astype(np.int64)
    return dict(zip(ids.tolist(), boxes[:, :6]))


def test_boxes_are_the_whole_instances_of_the_scan(mv_root):
    """Unaugmented: the box of each clip instance is the scan instance's box shipped with the
    sample (ScanNet's axis-aligned export), not the extent of the frames' partial view."""
    out = _sample(mv_root)
    ds = out['data_samples']
    boxes = ds.gt_instances_3d.bboxes_3d.numpy()
    raw = ds.gt_instances_3d.instance_ids.numpy()
    shipped = _shipped_boxes()
    common = [g for g, r in enumerate(raw) if r in shipped]
    assert len(common) >= 5
    for g in common:
        np.testing.assert_allclose(boxes[g], shipped[int(raw[g])], atol=1e-4)
    # a frame sees part of an object: some frame-point extent is smaller than its box
    pts = out['inputs']['points'][:, :3].numpy()
    ins = ds.gt_pts_seg.pts_instance_mask.numpy()
    partial = 0
    for g in range(len(boxes)):
        p = pts[ins == g + 1]
        lo, hi = boxes[g, :3] - boxes[g, 3:] / 2, boxes[g, :3] + boxes[g, 3:] / 2
        assert ((p >= lo - 0.05) & (p <= hi + 0.05)).all()        # inside its box
        partial += bool(((p.max(0) - p.min(0)) < boxes[g, 3:] - 0.1).any())
    assert partial >= 1


def test_boxes_follow_the_augmentation(mv_root):
    """A 90 degree turn about z, scale 1.5, a horizontal flip: the box centre moves with the
    points and the x / y sizes swap (by hand: (x, y) -> (-y, x) -> flip x -> (y, x))."""
    plain = _sample(mv_root)['data_samples'].gt_instances_3d.bboxes_3d.numpy()
    turn = [dict(type='GlobalRotScaleTrans', rot_range=[np.pi / 2, np.pi / 2],
                 scale_ratio_range=[1.5, 1.5], translation_std=[0, 0, 0]),
            dict(type='RandomFlip3D', flip_ratio_bev_horizontal=1.0,
                 flip_ratio_bev_vertical=0.0)]
    moved = _sample(mv_root, turn)['data_samples'].gt_instances_3d.bboxes_3d.numpy()
    expect = np.stack([1.5 * plain[:, 1], 1.5 * plain[:, 0], 1.5 * plain[:, 2],
                       1.5 * plain[:, 4], 1.5 * plain[:, 3], 1.5 * plain[:, 5]], 1)
    np.testing.assert_allclose(moved, expect, atol=1e-4)


def test_missing_scan_is_an_error_naming_the_sample(mv_root, tmp_path):
    import pickle
    with open(osp.join(mv_root, 'scannet_mv_oneformer3d_infos_train.pkl'), 'rb') as fh:
        data = pickle.load(fh)
    data['data_list'][0].pop('scan_path')
    ann = tmp_path / 'no_scan.pkl'
    with open(ann, 'wb') as fh:
        pickle.dump(data, fh)
    ds = DATASETS.build(dict(
        type='ScanNetSegMVDataset', data_root=mv_root, ann_file=str(ann),
        pipeline=[dict(type='LoadAdjacentDataFromFile', num_frames=3),
                  dict(type='PointSegClassMapping'), dict(type='PointInstClassMapping'),
                  dict(type='ScanInstanceBoxes')]))
    with pytest.raises(KeyError, match='scan_path'):
        ds[0]


def test_online_reproduction_model_trains_boxes_and_merges_with_them(mv_root):
    """ESAM's online CA config on the real 3-frame clip: the box loss trains against the scan
    boxes, and online inference hands the merger boxes (its box mode refuses to run
    without them)."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from oneformer3d.registry import MODELS
    from tests.conftest import REPO
    cfg = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_online_scannet200_CA.py'))
    m = cfg.model
    m.decoder.update(d_model=32, ffn_dim=64, num_heads=4, num_semantic_classes=20)
    m.sem_criterion.ignore_index = 20             # the clip is ScanNet-20 labelled
    m.merge_head.update(in_channels=32, hidden=32, out_channels=32)
    m.data_preprocessor.voxel_size = 0.05
    torch.manual_seed(0)
    model = MODELS.build(m)
    assert model.merger_cfg['use_bbox'] and model.decoder.predicts_boxes

    def data(pipeline, training):
        ds = DATASETS.build(dict(type='ScanNetSegMVDataset', data_root=mv_root,
                                 ann_file='scannet_mv_oneformer3d_infos_train.pkl',
                                 pipeline=pipeline))
        return model.data_preprocessor(pseudo_collate([ds[0]]), training)

    train = data(cfg.train_pipeline, True)
    assert train['data_samples'][0].gt_instances_3d.bboxes_3d.shape[1] == 6
    losses = model(train['inputs'], train['data_samples'], mode='loss')   # frame by frame
    assert torch.isfinite(losses['loss_bbox']) and losses['loss_bbox'] > 0
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert model.decoder.reg_head[0].weight.grad.abs().sum() > 0
    model.eval()
    test = data(cfg.test_pipeline, False)
    out = model(test['inputs'], test['data_samples'], mode='predict')[0]
    assert out.online_stats['frames'] == 3
    assert out.pred_instances_3d.pts_instance_mask.shape[1] == len(test['inputs']['scan_points'][0])
