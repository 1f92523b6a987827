"""Model parts on real points: pooling, matching, NMS, losses (incl. empty GT), inference,
Mask3D key mapping."""
import itertools
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from oneformer3d.models import (HungarianMatcher, MaskBCECost, MaskDiceCost,
                                QueryClassificationCost, Res16UNet34C,
                                mask3d_backbone_state_dict)
from oneformer3d.models.layers import farthest_point_sampling, matrix_nms, superpoint_pool
from oneformer3d.registry import MODELS
from oneformer3d.structures import Det3DDataSample, PointData
from tests.conftest import REPO, data_path

init_default_scope('oneformer3d')


def real_points(n=3000, seed=0):
    pts = np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy'))
    ins = np.load(data_path('scannet', 'scans', 'scene0000_00_ins_label.npy')).astype(np.int64)
    lo = pts[:, :2].min(0)
    keep = np.flatnonzero((pts[:, 0] < lo[0] + 2) & (pts[:, 1] < lo[1] + 2))
    keep = np.random.default_rng(seed).choice(keep, min(n, len(keep)), replace=False)
    return torch.from_numpy(pts[keep]), torch.from_numpy(ins[keep])


def test_superpoint_pool_matches_manual_mean():
    pts, _ = real_points()
    sp = torch.from_numpy(np.random.default_rng(0).integers(5, 60, len(pts)))
    pooled, p2s = superpoint_pool(pts, sp)
    for s in (5, 17, 59):
        k = int(p2s[sp == s][0])
        torch.testing.assert_close(pooled[k], pts[sp == s].mean(0))
    mx, _ = superpoint_pool(pts, sp, reduce='amax')
    assert torch.equal(mx[int(p2s[sp == 9][0])], pts[sp == 9].max(0).values)


def test_hungarian_matcher_is_optimal():
    torch.manual_seed(0)
    pred = dict(cls=torch.randn(4, 3), masks=torch.randn(4, 30))
    gt = dict(labels=torch.tensor([0, 1, 0]), masks=(torch.rand(3, 30) > 0.5).float())
    costs = [QueryClassificationCost(0.5), MaskBCECost(1.0), MaskDiceCost(1.0)]
    matcher = HungarianMatcher(costs)
    q, g = matcher(pred, gt)
    cost = sum(c(pred, gt) for c in costs)
    best = min(sum(cost[p[j], j] for j in range(3)) for p in itertools.permutations(range(4), 3))
    assert torch.isclose(cost[q, g].sum(), best)
    q, g = matcher(pred, dict(labels=torch.zeros(0, dtype=torch.long),
                              masks=torch.zeros(0, 30)))
    assert q.numel() == 0 and g.numel() == 0


def test_matrix_nms_and_fps():
    a = torch.zeros(4, 10, dtype=torch.bool)
    a[0, :5] = a[1, :5] = True  # duplicates
    a[2, 5:] = True             # disjoint
    a[3, :4] = True             # IoU 0.8 with the first
    out = matrix_nms(a, torch.tensor([0.9, 0.8, 0.7, 0.6]))
    assert out[0] == 0.9 and out[2] == 0.7       # unaffected
    assert out[1] == pytest.approx(0.0, abs=1e-6)  # exact duplicate suppressed
    assert out[3] == pytest.approx(0.6 * 0.2, rel=1e-4)
    pts, _ = real_points()
    idx = farthest_point_sampling(pts[:, :3], 50)
    assert len(set(idx.tolist())) == 50 and torch.equal(idx, farthest_point_sampling(pts[:, :3], 50))


def build_model(**decoder):
    cfg = Config.fromfile(osp.join(REPO, 'configs/oneformer3d/overfit_scene.py'))
    cfg.model.decoder.update(decoder)
    return MODELS.build(cfg.model)


def make_batch(pts, ins):
    sample = Det3DDataSample()
    from mmengine.structures import InstanceData
    uniq, inv = torch.unique(ins, return_inverse=True)
    new = inv if uniq[0] == 0 else inv + 1
    sample.gt_pts_seg = PointData(pts_semantic_mask=torch.zeros_like(ins),
                                  pts_instance_mask=new,
                                  sp_pts_mask=torch.div(torch.arange(len(ins)), 20,
                                                        rounding_mode='floor'))
    sample.gt_instances_3d = InstanceData(labels_3d=torch.zeros(int(new.max()), dtype=torch.long))
    pts = pts.clone()
    pts[:, 3:] = pts[:, 3:] / 127.5 - 1
    return dict(inputs=dict(points=[pts]), data_samples=[sample])


def test_losses_finite_with_and_without_gt_and_inference_shapes():
    torch.manual_seed(0)
    model = build_model()
    pts, ins = real_points()
    data = model.data_preprocessor(make_batch(pts, ins), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_cls', 'loss_bce', 'loss_dice', 'loss_score'}
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    # empty-GT frame (ESAM issue #17): finite loss, gradients flow into the class head
    model.zero_grad()
    data = model.data_preprocessor(make_batch(pts, torch.zeros_like(ins)), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.decoder.cls_head.weight.grad.abs().sum() > 0
    model.eval()
    data = model.data_preprocessor(make_batch(pts, ins), False)
    out = model.predict(data['inputs'], data['data_samples'])[0].pred_instances_3d
    k = len(out.instance_scores)
    assert out.pts_instance_mask.shape == (k, len(pts)) and out.pts_instance_mask.dtype == torch.bool
    assert (out.instance_labels == 0).all()  # class-agnostic
    assert (out.pts_instance_mask.sum(1) >= 100).all()


def test_mask3d_backbone_keys_load():
    """Mask3D keeps the U-Net under 'model.backbone.'; a state dict in that layout (made here,
    no download) loads into ours strictly after the mapping."""
    ours = Res16UNet34C(in_channels=3, out_channels=32)
    theirs = {f'model.backbone.{k}': v + 1 for k, v in ours.state_dict().items()}
    theirs['model.mask_embed_head.weight'] = torch.zeros(3)
    mapped = mask3d_backbone_state_dict(theirs)
    fresh = Res16UNet34C(in_channels=3, out_channels=32)
    fresh.load_state_dict(mapped, strict=True)
    k = 'block1.0.conv1.kernel'
    torch.testing.assert_close(fresh.state_dict()[k], ours.state_dict()[k] + 1)
    assert any(k.startswith('bn0.bn.') for k in mapped)


def test_pretrained_mask3d_file_loads_weights_only(tmp_path):
    src = Res16UNet34C(in_channels=3, out_channels=32)
    state = {f'model.backbone.{k}': v for k, v in src.state_dict().items()}
    state['model.backbone.final.kernel'] = torch.zeros(1, 96, 200)  # another head width
    path = tmp_path / 'mask3d_like.pth'
    torch.save({'state_dict': state, 'epoch': 3}, path)
    net = Res16UNet34C(in_channels=3, out_channels=32, pretrained=str(path))
    k = 'block8.1.conv2.kernel'
    torch.testing.assert_close(net.state_dict()[k], src.state_dict()[k])
    report = net.load_pretrained(str(path))
    assert report['mismatched'] == ['final.kernel'] and report['missing'] == ['final.kernel']


def test_backbone_injector_sees_decoder_strides():
    """The extension point for 2D-feature injection: called on each decoder stage's upsampled
    tensor at strides 8, 4, 2, 1 with the advertised channels; changing it changes outputs."""
    import MinkowskiEngine as ME
    pts, _ = real_points(2000)
    coords = torch.unique(torch.floor(pts[:, :3] / 0.05).int(), dim=0)
    coords = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords], 1)
    net = Res16UNet34C().eval()
    x = ME.SparseTensor(torch.rand(len(coords), 3), coordinates=coords)
    seen = []

    def record(stride, t):
        seen.append((stride, t.tensor_stride[0], t.F.shape[1]))
        return t
    base, stages = net(x, injector=record)
    assert seen == [(s, s, c) for s, c in net.decoder_channels().items()]
    assert list(stages) == [8, 4, 2, 1] and torch.equal(base.C, coords)
    x = ME.SparseTensor(x.F, coordinates=coords)

    def add_one(stride, t):  # what a zero-initialised projection of 2D features would add
        if stride != 2:
            return t
        return ME.SparseTensor(t.F + 1.0, coordinate_map_key=t.coordinate_map_key,
                               coordinate_manager=t.coordinate_manager)
    shifted, _ = net(x, injector=add_one)
    assert not torch.allclose(shifted.F, base.F)
