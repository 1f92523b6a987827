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
                                QueryClassificationCost, Res16UNet34C)
from oneformer3d.models.layers import farthest_point_sampling, matrix_nms, superpoint_pool
from oneformer3d.registry import MODELS
from tests.conftest import REPO
from tests.helpers.builders import build_model, make_batch, real_points
from tests.helpers.mask3d_reference import mask3d_res16unet34c_shapes

init_default_scope('oneformer3d')


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


def _real_instance_masks():
    """Superpoint masks of two real GT instances of scene0000_00's 2 m corner (20-point
    superpoints): (S,) instance id per superpoint, the two largest instance ids."""
    _, ins = real_points(3000)
    sp_ins = ins[torch.arange(0, len(ins), 20)]
    ids, counts = torch.unique(sp_ins[sp_ins > 0], return_counts=True)
    a, b = ids[counts.argsort(descending=True)[:2]].tolist()
    return sp_ins, a, b


def _iou(x, y):
    x, y = x.float(), y.float()
    inter = (x * y).sum()
    return float(inter / (x.sum() + y.sum() - inter))


def test_matrix_nms_is_label_aware_on_real_instances():
    """SOLOv2 Eq. 4 (linear kernel) on masks of real instances: only higher-scored masks of
    the same label decay a mask; one mask with two class hypotheses keeps both scores."""
    sp_ins, a, b = _real_instance_masks()
    inst_a, inst_b = sp_ins == a, sp_ins == b
    part_a = inst_a.clone()
    part_a[torch.nonzero(inst_a).squeeze(1)[::3]] = False  # two thirds of A: overlaps A
    masks = torch.stack([inst_a, inst_a, part_a, inst_b])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # the same mask twice with labels 0 and 1 (two class hypotheses of one query): no decay
    two_hyp = matrix_nms(masks[:2], torch.tensor([0, 1]), scores[:2])
    torch.testing.assert_close(two_hyp, scores[:2])
    # one label: the duplicate vanishes, the part decays by (1 - IoU(A, part)) / (1 - 0)...
    out = matrix_nms(masks, torch.zeros(4, dtype=torch.long), scores)
    iou_ap = _iou(inst_a, part_a)
    assert 0.5 < iou_ap < 0.8
    assert out[0] == 0.9 and out[1] == pytest.approx(0.0, abs=1e-6)
    # ... compensated for the duplicate's own suppression (comp = IoU(A, A) = 1 -> ignored by
    # the min over i, which keeps the row of A)
    assert out[2] == pytest.approx(0.7 * (1 - iou_ap), rel=1e-5)
    assert out[3] == pytest.approx(0.6 * (1 - _iou(inst_a, inst_b)), rel=1e-5)
    # labels 0, 0, 1, 1: the part is alone in label 1 (apart from B, ranked below it)
    out = matrix_nms(masks, torch.tensor([0, 0, 1, 1]), scores)
    assert out[2] == pytest.approx(0.7) and out[1] == pytest.approx(0.0, abs=1e-6)
    assert out[3] == pytest.approx(0.6 * (1 - _iou(part_a, inst_b)), rel=1e-5)
    # gaussian kernel: exp(-sigma (IoU^2 - comp^2)), sigma 2
    out = matrix_nms(masks[[0, 2]], torch.zeros(2, dtype=torch.long), scores[[0, 2]],
                     kernel='gaussian')
    assert out[1] == pytest.approx(0.7 * float(np.exp(-2 * iou_ap ** 2)), rel=1e-5)
    with pytest.raises(ValueError, match='labels'):
        matrix_nms(masks, torch.zeros(3, dtype=torch.long), scores)


def test_farthest_point_sampling_is_deterministic_and_unique():
    pts, _ = real_points()
    idx = farthest_point_sampling(pts[:, :3], 50)
    assert len(set(idx.tolist())) == 50 and torch.equal(idx, farthest_point_sampling(pts[:, :3], 50))
    d = torch.cdist(pts[idx, :3], pts[:, :3]).min(0).values
    rand = torch.randperm(len(pts), generator=torch.Generator().manual_seed(0))[:50]
    assert d.max() < torch.cdist(pts[rand, :3], pts[:, :3]).min(0).values.max()


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
    assert model.decoder.cls_head[2].weight.grad.abs().sum() > 0
    model.eval()
    data = model.data_preprocessor(make_batch(pts, ins), False)
    out = model.predict(data['inputs'], data['data_samples'])[0].pred_instances_3d
    k = len(out.instance_scores)
    assert out.pts_instance_mask.shape == (k, len(pts)) and out.pts_instance_mask.dtype == torch.bool
    assert (out.instance_labels == 0).all()  # class-agnostic
    assert (out.pts_instance_mask.sum(1) >= 100).all()


def test_backbone_keys_equal_mask3d_definition():
    """Our Res16UNet34C has exactly Mask3D's parameter names and shapes (the reference is
    written from JonasSchult/Mask3D's module definitions in tests/helpers/mask3d_reference.py),
    except Mask3D's ``final`` conv, which its forward never calls."""
    ref = mask3d_res16unet34c_shapes(in_channels=3, out_channels=20, conv1_kernel_size=5)
    ours = {k: tuple(v.shape) for k, v in Res16UNet34C(in_channels=3).state_dict().items()}
    assert set(ours) == set(ref) - {'final.kernel', 'final.bias'}
    assert {k: ref[k] for k in ours} == ours
    with_final = Res16UNet34C(in_channels=3, out_channels=20).state_dict()
    assert {k: tuple(v.shape) for k, v in with_final.items()} == dict(ref)


def _mask3d_like_checkpoint(path, seed=0, drop=(), final_width=200):
    """A Lightning-layout checkpoint with Mask3D's backbone keys and shapes (random values,
    no download) plus a decoder key of Mask3D's own."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in mask3d_res16unet34c_shapes(out_channels=final_width).items():
        if k in drop:
            continue
        state[f'model.backbone.{k}'] = (torch.randint(0, 5, shape, generator=g)
                                        if k.endswith('num_batches_tracked')
                                        else torch.randn(shape, generator=g))
    state['model.mask_embed_head.weight'] = torch.zeros(3)
    torch.save({'state_dict': state, 'epoch': 3}, path)
    return state


def test_pretrained_mask3d_file_loads_every_tensor(tmp_path):
    path = tmp_path / 'mask3d_like.pth'
    state = _mask3d_like_checkpoint(path)
    net = Res16UNet34C(in_channels=3, pretrained=str(path))
    for k in ('conv0p1s1.kernel', 'block8.1.conv2.kernel', 'bntr7.bn.running_var'):
        torch.testing.assert_close(net.state_dict()[k], state[f'model.backbone.{k}'])
    report = net.load_pretrained(str(path))
    assert report.missing == [] and report.mismatched == []
    assert set(report.unexpected) == {'final.kernel', 'final.bias'}  # unused upstream too


def test_pretrained_loading_is_strict_by_default(tmp_path):
    # a checkpoint of another stem (kernel 3 instead of 5): one tensor cannot load
    other = tmp_path / 'other_stem.pth'
    g = torch.Generator().manual_seed(0)
    shapes = mask3d_res16unet34c_shapes(conv1_kernel_size=3)
    torch.save({f'model.backbone.{k}': torch.randn(s, generator=g) if s else torch.tensor(0)
                for k, s in shapes.items()}, other)
    with pytest.raises(ValueError, match=r'conv0p1s1.kernel \(27, 3, 32\) in the checkpoint'):
        Res16UNet34C(pretrained=str(other))
    net = Res16UNet34C(pretrained=str(other), pretrained_max_missing=0.01)  # opted in
    assert net.load_pretrained(str(other)).mismatched[0][0] == 'conv0p1s1.kernel'
    # a file of another model entirely: zero tensors load
    unrelated = tmp_path / 'unrelated.pth'
    torch.save({'state_dict': {'decoder.weight': torch.zeros(3)}}, unrelated)
    with pytest.raises(ValueError, match='no tensor of the checkpoint matches'):
        Res16UNet34C(pretrained=str(unrelated), pretrained_max_missing=1.0)


def test_backbone_injector_points_and_chain():
    """The extension point for memory / 2D-feature injection: called on the input, on the
    encoder outputs (strides 2, 4, 8, 16), then per decoder stage on its upsampled tensor and
    on the skip tensor it concatenates (8, 4, 2, 1), with the advertised channels; a list is
    a chain applied in order; changing a tensor changes the output; the output rows follow
    the input coordinates."""
    import MinkowskiEngine as ME
    pts, _ = real_points(2000)
    coords = torch.unique(torch.floor(pts[:, :3] / 0.05).int(), dim=0)
    coords = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords], 1)
    net = Res16UNet34C().eval()
    assert net.out_channels == 96
    x = ME.SparseTensor(torch.rand(len(coords), 3), coordinates=coords)
    seen = []

    def record(point, stride, t):
        seen.append((point, stride, t.tensor_stride[0], t.F.shape[1]))
        return t
    base, stages = net(x, injector=record)
    skip = net.skip_channels()
    assert seen == ([('input', 1, 1, 3)]
                    + [('encoder', s, s, c) for s, c in net.encoder_channels().items()]
                    + [item for s, c in net.decoder_channels().items()
                       for item in (('upsampled', s, s, c), ('skip', s, s, skip[s]))])
    assert list(stages) == [8, 4, 2, 1] and torch.equal(base.C, coords)
    assert base.F.shape == (len(coords), 96)
    x = ME.SparseTensor(x.F, coordinates=coords)

    def shift(at_point, at_stride, order):
        def hook(point, stride, t):
            if (point, stride) != (at_point, at_stride):
                return t
            order.append(at_point)
            return ME.SparseTensor(t.F + 1.0, coordinate_map_key=t.coordinate_map_key,
                                   coordinate_manager=t.coordinate_manager)
        return hook
    order = []
    shifted, _ = net(x, injector=[shift('encoder', 8, order), shift('upsampled', 2, order)])
    assert order == ['encoder', 'upsampled'] and not torch.allclose(shifted.F, base.F)


def test_bf16_autocast_keeps_sparse_convs_fp32_and_matches_fp32_loss():
    """Under --amp (bf16 autocast on CPU, fp16 on CUDA) no MinkowskiEngine op receives a half
    tensor (its kernels take fp32/fp64 only), the dense decoder does run in bf16, and the
    losses and gradients stay close to the fp32 step on the same real points."""
    import MinkowskiEngine as ME
    torch.manual_seed(0)
    model = build_model()
    pts, ins = real_points()
    data = model.data_preprocessor(make_batch(pts, ins), True)
    seen_sparse, seen_dense = set(), set()
    hooks = []
    for m in model.modules():
        if isinstance(m, (ME.MinkowskiModuleBase, ME.MinkowskiBatchNorm)):
            hooks.append(m.register_forward_pre_hook(
                lambda mod, args: seen_sparse.add(args[0].F.dtype)))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(
                lambda mod, args, out: seen_dense.add(out.dtype)))
    assert any(isinstance(m, ME.MinkowskiConvolution) for m in model.modules())

    def step(autocast):
        model.zero_grad()
        torch.manual_seed(1)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(losses.values())
        total.backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        return {k: float(v.detach()) for k, v in losses.items()}, grad

    ref_losses, ref_grad = step(False)
    seen_sparse.clear()
    seen_dense.clear()
    amp_losses, amp_grad = step(True)
    for h in hooks:
        h.remove()
    assert seen_sparse == {torch.float32}
    assert torch.bfloat16 in seen_dense
    for k, v in ref_losses.items():
        assert amp_losses[k] == pytest.approx(v, rel=0.05, abs=1e-3), k
    cos = torch.nn.functional.cosine_similarity(ref_grad, amp_grad, dim=0)
    assert cos > 0.9, float(cos)


def test_inference_topk_pairs_obj_normalization_and_thresholds_by_hand():
    """OneFormer3D's predict_by_feat_instance on a hand-computed case: K = 2 classes, 3
    queries, 4 superpoints of 2 points each (NMS off; it has its own test)."""
    model = build_model()
    model.test_cfg.update(topk_insts=3, score_thr=0.0, npoint_thr=1, sp_score_thr=0.4,
                          obj_normalization=True, nms=False)
    cls = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.05, 0.05, 0.9]]).log()
    masks = torch.tensor([[2.0, 2.0, -2.0, -2.0], [0.0, 3.0, 3.0, -3.0], [-5.0] * 4])
    point2sp = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    out = model.predict_instances(cls, masks, None, point2sp)
    # best (query, class) pairs: (0, 0) 0.6, (1, 1) 0.5, (0, 1) 0.3; times the mean mask
    # probability where the logit > 0: sigmoid(2) for query 0, sigmoid(3) for query 1
    s2, s3 = torch.sigmoid(torch.tensor(2.0)).item(), torch.sigmoid(torch.tensor(3.0)).item()
    assert out.query_index.tolist() == [0, 1, 0] and out.instance_labels.tolist() == [0, 1, 1]
    assert out.instance_scores.tolist() == pytest.approx([0.6 * s2, 0.5 * s3, 0.3 * s2], rel=1e-5)
    # masks at sigmoid > 0.4: query 0 on superpoints 0-1, query 1 on 0-2 (sigmoid(0) = 0.5)
    assert out.pts_instance_mask[0].tolist() == [True] * 4 + [False] * 4
    assert out.pts_instance_mask[1].tolist() == [True] * 6 + [False] * 2
    model.test_cfg.update(npoint_thr=4, score_thr=0.3)   # more than 4 points, score > 0.3
    out = model.predict_instances(cls, masks, None, point2sp)
    assert out.query_index.tolist() == [1] and out.instance_labels.tolist() == [1]
    model.test_cfg.update(npoint_thr=1, score_thr=0.0, obj_normalization=False, topk_insts=2)
    obj = torch.tensor([0.0, 100.0, 0.0])       # objectness: x sigmoid -> 0.5, 1, 0.5
    out = model.predict_instances(cls, masks, obj, point2sp)
    assert out.instance_scores.tolist() == pytest.approx([0.5, 0.3], rel=1e-5)
    assert out.query_index.tolist() == [1, 0]


def test_semantic_head_reads_the_queries_and_covers_every_superpoint_at_test_time():
    """Upstream's semantic branch: one row per query (its seed superpoint's class) in
    training, every superpoint a query at test time; the loss reaches the head."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/oneformer3d/overfit_scene.py'))
    cfg.model.decoder.update(num_semantic_classes=20, max_queries=None, pos_embed=False,
                             query_sampling='random', semantic_source='query')
    cfg.model.sem_criterion = dict(type='SemanticCriterion', ignore_index=20, loss_weight=0.5)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.decoder.sem_head.out_features == 21          # upstream's C + 1 columns
    pts, ins = real_points()
    batch = make_batch(pts, ins)
    batch['data_samples'][0].gt_pts_seg.pts_semantic_mask = torch.where(ins > 0, 5, 20)
    data = model.data_preprocessor(batch, True)
    inputs = model._split_inputs(data['inputs'], data['data_samples'])
    sp_feats, _, sp_xyz, _ = model.extract_feat(inputs)
    out = model.decoder(sp_feats, training=True, sp_xyz=sp_xyz)
    assert torch.equal(out['sem_idx'][0], out['query_idx'][0])
    assert out['sem'][0].shape == (len(out['query_idx'][0]), 20)
    assert len(out['query_idx'][0]) < sp_feats[0].shape[0]     # a random share in training
    losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_sem'] > 0
    losses['loss_sem'].backward()
    assert model.decoder.sem_head.weight.grad[:20].abs().sum() > 0
    assert model.decoder.sem_head.weight.grad[20].abs().sum() == 0   # the unused column
    model.eval()
    data = model.data_preprocessor(make_batch(pts, ins), False)
    ds = model.predict(data['inputs'], data['data_samples'])[0]
    assert ds.pred_pts_seg.pts_semantic_mask.shape == (len(pts),)
