"""ESAM's mixed decoder (xuxw98/ESAM oneformer3d/query_decoder.py ``ScanNetMixQueryDecoder``,
instance_criterion.py ``MixedInstanceCriterion`` @ 84f70457): point-level masks, the P -> SP
attention-mask conversion, point-level supervision and the box loss, on hand-computed cases
and real points; the GT boxes against the boxes shipped with the ScanNet sample."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from oneformer3d.models.criteria.instance_criterion import axis_aligned_iou, box_corners
from oneformer3d.models.decoders import point_to_superpoint_blocked
from oneformer3d.registry import MODELS
from tests.conftest import REPO, data_path
from oneformer3d.datasets.preprocessing.superpoints import compute_superpoints
from tests.helpers.builders import make_batch

CONFIG = 'configs/esam/ESAM_sv_1xb4_scannet200_CA.py'


def test_point_mask_to_superpoint_mask_by_hand():
    # 6 points in 2 superpoints (0: points 0-3, 1: points 4-5), ESAM's pooling weights
    point2sp = torch.tensor([0, 0, 0, 0, 1, 1])
    weight = torch.tensor([2.0, 1.0, 1.0, 0.0, 1.5, 0.5])
    blocked = torch.tensor([[1, 1, 0, 0, 1, 1],     # sp0: (2 + 1) / 4 = 0.75, sp1: 2 / 2 = 1
                            [0, 1, 1, 1, 1, 0],     # sp0: 2 / 4 = 0.5,  sp1: 1.5 / 2 = 0.75
                            [1, 0, 0, 0, 0, 0]],    # sp0: 0.5,          sp1: 0
                           dtype=torch.bool)
    out = point_to_superpoint_blocked(blocked, point2sp, weight, 2)
    # row 0: both > 0.5, sp0 is the row minimum -> unblocked (no fully blocked row)
    # row 1: sp0 = 0.5 is not > 0.5; sp1 blocked
    # row 2: nothing above 0.5
    assert out.tolist() == [[False, True], [False, True], [False, False]]
    # mean pooling (no weights): row 0 -> sp0 2/4, sp1 1; row 1 -> sp0 3/4, sp1 1/2 (the
    # minimum); row 2 -> sp0 1/4, sp1 0
    out = point_to_superpoint_blocked(blocked, point2sp, None, 2)
    assert out.tolist() == [[False, True], [True, False], [False, False]]
    full = torch.ones(1, 6, dtype=torch.bool)       # equal scores: everything unblocked
    assert not point_to_superpoint_blocked(full, point2sp, None, 2).any()


def test_axis_aligned_iou_by_hand():
    a = box_corners(torch.tensor([[0.5, 0.0, 0.0, 1.0, 1.0, 1.0]]))     # [0, 1] x [-.5, .5]^2
    b = box_corners(torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]))     # [-.5, .5]^3
    assert axis_aligned_iou(a, b).item() == pytest.approx(0.5 / 1.5)
    assert axis_aligned_iou(b, b).item() == pytest.approx(1.0)
    far = box_corners(torch.tensor([[3.0, 0.0, 0.0, 1.0, 1.0, 1.0]]))
    assert axis_aligned_iou(far, b).item() == 0.0


def _criterion(weights=(0.5, 1.0, 1.0, 0.5, 0.5)):
    return MODELS.build(dict(
        type='InstanceCriterion', loss_weight=weights, num_classes=1,
        matcher=dict(type='HungarianMatcher', costs=[
            dict(type='QueryClassificationCost', weight=0.5),
            dict(type='MaskBCECost', weight=1.0), dict(type='MaskDiceCost', weight=1.0)])))


def test_point_level_layer_is_supervised_on_point_masks_and_boxes_by_hand():
    """One sample, one GT instance, one query: BCE against the point masks (not the
    superpoint masks), box loss ``w5 · (1 - IoU) / B``."""
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]])               # over 4 points
    point_gt = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    layer = dict(cls=[torch.tensor([[1.0, 0.0]])], masks=[logits], scores=[None],
                 mask_mode='P', boxes=[torch.tensor([[0.5, 0.0, 0.0, 1.0, 1.0, 1.0]])])
    target = dict(labels=torch.tensor([0]), masks=torch.tensor([[1.0, 1.0]]),   # (G, S=2)
                  point_masks=point_gt, boxes=torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]]),
                  query_centres=torch.tensor([[0.5, 0.0, 0.0]]))
    losses = _criterion()([layer], [target])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, point_gt)
    assert losses['loss_bce'].item() == pytest.approx(bce.item(), rel=1e-6)
    # centre 0.5 + offset 0.5 = 1.0, size 1: the GT box exactly -> IoU 1, loss 0
    assert losses['loss_bbox'].item() == pytest.approx(0.0, abs=1e-6)
    target['query_centres'] = torch.tensor([[0.0, 0.0, 0.0]])     # centre 0.5: IoU 1/3
    losses = _criterion()([layer], [target])
    assert losses['loss_bbox'].item() == pytest.approx(0.5 * (1 - 1 / 3), rel=1e-6)
    # four weights: boxes are not supervised (upstream's len(loss_weight) == 4)
    assert 'loss_bbox' not in _criterion((0.5, 1.0, 1.0, 0.5))([layer], [target])
    with pytest.raises(ValueError, match='point_masks'):
        _criterion()([layer], [{k: v for k, v in target.items() if k != 'point_masks'}])


def test_box_loss_is_divided_by_the_batch_size():
    layer = dict(cls=[torch.tensor([[1.0, 0.0]])] * 2, masks=[torch.zeros(1, 4)] * 2,
                 scores=[None, None], mask_mode='P',
                 boxes=[torch.tensor([[0.5, 0.0, 0.0, 1.0, 1.0, 1.0]])] * 2)
    with_gt = dict(labels=torch.tensor([0]), masks=torch.ones(1, 2),
                   point_masks=torch.ones(1, 4), boxes=torch.tensor([[0.0, 0, 0, 1, 1, 1]]),
                   query_centres=torch.zeros(1, 3))
    empty = dict(labels=torch.zeros(0, dtype=torch.long), masks=torch.zeros(0, 2),
                 point_masks=torch.zeros(0, 4), boxes=torch.zeros(0, 6),
                 query_centres=torch.zeros(1, 3))
    losses = _criterion()([layer], [with_gt, empty])
    assert losses['loss_bbox'].item() == pytest.approx(0.5 * (2 / 3) / 2, rel=1e-6)


def _real_batch():
    """A 2 m x 2 m corner of scene0000_00 (every vertex) with its graph superpoints."""
    pts = np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy'))
    ins = np.load(data_path('scannet', 'scans', 'scene0000_00_ins_label.npy')).astype(np.int64)
    lo = pts[:, :2].min(0)
    keep = (pts[:, 0] < lo[0] + 2) & (pts[:, 1] < lo[1] + 2)
    pts, ins = pts[keep], torch.from_numpy(ins[keep])
    batch = make_batch(torch.from_numpy(pts).float(), ins)
    batch['data_samples'][0].gt_pts_seg.sp_pts_mask = torch.from_numpy(
        np.asarray(compute_superpoints(pts[:, :6]))).long()
    return batch, len(pts)


def _model(bbox_flag=False):
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    cfg.model.backbone.pretrained = None
    cfg.model.decoder.update(d_model=32, ffn_dim=64, num_heads=4, bbox_flag=bbox_flag)
    cfg.model.data_preprocessor.voxel_size = 0.05
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_reproduction_model_trains_and_predicts_point_masks_on_real_points():
    model = _model(bbox_flag=True)
    batch, n = _real_batch()
    seg = batch['data_samples'][0].gt_pts_seg
    seg.pts_semantic_mask = torch.where(seg.pts_instance_mask > 0, 5, 200)
    data = model.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_bce', 'loss_dice', 'loss_bbox', 'loss_sem'} <= set(losses)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total) and losses['loss_bbox'] > 0
    total.backward()
    dec = model.decoder
    assert dec.x_pts_mask[0].weight.grad.abs().sum() > 0      # the P levels are supervised
    assert dec.x_mask[0].weight.grad.abs().sum() > 0          # ... and the SP levels
    assert dec.reg_head[0].weight.grad.abs().sum() > 0
    assert model.pool.pts_proj2[0].weight.grad.abs().sum() > 0    # GeoAwarePooling
    assert dec.input_pts_proj is None          # cross-attention reads superpoints only
    model.eval()
    data = model.data_preprocessor(_real_batch()[0], False)
    ds = model.predict(data['inputs'], data['data_samples'])[0]
    masks = ds.pred_instances_3d.pts_instance_mask
    assert masks.shape[1] == n and len(masks) <= 100      # topk_insts 100


def test_point_level_masks_differ_within_a_superpoint():
    """The last levels' masks are over points: two points of one superpoint can differ
    (superpoint-level masks cannot)."""
    model = _model().eval()
    batch, n = _real_batch()
    data = model.data_preprocessor(batch, False)
    inputs = model._split_inputs(data['inputs'], data['data_samples'])
    sp_feats, p2s, sp_xyz, points = model.extract_feat(inputs)
    out = model.decoder(sp_feats, sp_xyz=sp_xyz, points=points, point2sp=p2s)
    modes = [layer['mask_mode'] for layer in out['layers']]
    assert modes == ['SP', 'SP', 'P', 'P']
    sp_masks, p_masks = out['layers'][1]['masks'][0], out['layers'][-1]['masks'][0]
    assert sp_masks.shape[1] == sp_feats[0].shape[0] and p_masks.shape[1] == n
    same_sp = p2s[0] == p2s[0][0]
    assert same_sp.sum() > 1
    assert p_masks[:, same_sp].std(dim=1).max() > 0


def test_gt_boxes_match_the_scannet_sample_boxes():
    """Our box targets (each instance's point extent) against the axis-aligned boxes shipped
    with the sample (``scene0000_00_bbox.npy``, centre + size of each instance's vertices)."""
    model = _model(bbox_flag=True)
    pts = torch.from_numpy(np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy')))
    ins = torch.from_numpy(np.load(data_path('scannet', 'scans',
                                             'scene0000_00_ins_label.npy')).astype(np.int64))
    boxes = np.load(data_path('scannet', 'scans', 'scene0000_00_bbox.npy'))
    ids = np.load(data_path('scannet', 'scans', 'scene0000_00_bbox_idx.npy')).astype(np.int64)
    g = int(ins.max())
    p2s = torch.zeros(len(ins), dtype=torch.long)
    t = model.instance_targets(p2s, ins, torch.zeros(g, dtype=torch.long), 1, pts[:, :3])
    assert t['boxes'].shape == (g, 6) and t['point_masks'].shape == (g, len(ins))
    np.testing.assert_allclose(t['boxes'][ids - 1].numpy(), boxes[:, :6], atol=1e-4)
