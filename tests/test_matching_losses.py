"""OneFormer3D's SparseMatcher and InstanceCriterion reduction against hand-computed cases
(upstream: filaPro/oneformer3d oneformer3d/instance_criterion.py @ 608e5b93), and the sparse
matching on a real scene: every matched query is seeded inside its GT instance."""
import math

import pytest
import torch

from oneformer3d.datasets.preprocessing.superpoints import compute_superpoints
from oneformer3d.models import SparseMatcher
from oneformer3d.models.criteria.instance_criterion import InstanceCriterion
from tests.helpers.builders import build_model, make_batch, real_points


class FixedCost:
    """A cost term returning a given (Q, G) matrix."""

    def __init__(self, cost):
        self.cost = torch.as_tensor(cost, dtype=torch.float32)

    def __call__(self, pred, gt):
        return self.cost


def _gt(query_masks):
    qm = torch.as_tensor(query_masks, dtype=torch.bool)
    return dict(labels=torch.zeros(qm.shape[0], dtype=torch.long),
                masks=torch.zeros(qm.shape[0], 7), query_masks=qm)


def _pred(q):
    return dict(cls=torch.zeros(q, 2), masks=torch.zeros(q, 7))


# 5 queries x 3 GT; g0 may take q0-q2, g1 only q3, g2 none
COST = [[0.3, 0.9, 0.0], [0.1, 0.8, 0.0], [0.2, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]]
ALLOWED = [[1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0]]


def test_sparse_matcher_takes_topk_cheapest_allowed_queries():
    q, g = SparseMatcher([FixedCost(COST)], topk=1)(_pred(5), _gt(ALLOWED))
    # g0: q1 (0.1) beats q2 (0.2) and q0 (0.3); the cheaper q3 / q4 (0.0) are not seeded in g0;
    # g1: its only allowed query; g2: none
    assert q.tolist() == [1, 3] and g.tolist() == [0, 1]
    q, g = SparseMatcher([FixedCost(COST)], topk=2)(_pred(5), _gt(ALLOWED))
    assert q.tolist() == [1, 2, 3] and g.tolist() == [0, 0, 1]
    # a tie at the threshold drops both (upstream: cost < (topk+1)-th smallest)
    tie = [row[:] for row in COST]
    tie[2][0] = 0.1
    q, g = SparseMatcher([FixedCost(tie)], topk=1)(_pred(5), _gt(ALLOWED))
    assert q.tolist() == [3] and g.tolist() == [1]


def test_sparse_matcher_edge_cases_and_errors():
    m = SparseMatcher([FixedCost([[0.4]])], topk=1)
    q, g = m(_pred(1), _gt([[1]]))          # fewer queries than topk + 1
    assert q.tolist() == [0] and g.tolist() == [0]
    q, g = m(_pred(1), _gt(torch.zeros(0, 1)))   # no GT
    assert q.numel() == 0 and g.numel() == 0
    with pytest.raises(KeyError, match='query_masks'):
        m(_pred(1), dict(labels=torch.zeros(1, dtype=torch.long), masks=torch.zeros(1, 7)))
    with pytest.raises(ValueError, match=r'\(G, Q\) = \(1, 1\)'):
        m(_pred(1), _gt([[1, 0]]))


def _layer(ms):
    """One decoder layer over len(ms) samples: one query per sample with zero logits
    (sigmoid 0.5 everywhere), 4 superpoints; no objectness head."""
    return dict(cls=[torch.zeros(1, 2, requires_grad=True) for _ in ms],
                masks=[torch.zeros(1, 4, requires_grad=True) for _ in ms], scores=None)


def _targets(ms):
    out = []
    for m in ms:
        if m == 0:       # a sample without GT
            out.append(dict(labels=torch.zeros(0, dtype=torch.long), masks=torch.zeros(0, 4),
                            query_masks=torch.zeros(0, 1, dtype=torch.bool)))
        else:            # one GT instance covering m of the 4 superpoints
            mask = torch.tensor([[1.0] * m + [0.0] * (4 - m)])
            out.append(dict(labels=torch.zeros(1, dtype=torch.long), masks=mask,
                            query_masks=torch.ones(1, 1, dtype=torch.bool)))
    return out


def _dice(m):
    # sigmoid(0) = 0.5 on 4 superpoints, m of them in the GT:
    # 1 - (2 * 0.5 m + 1) / (0.5 * 4 + m + 1)
    return 1 - (m + 1) / (m + 3)


@pytest.mark.parametrize('ms', [(1, 2, 3, 0), (1, 4)])
@pytest.mark.parametrize('fix', [True, False])
def test_instance_criterion_reduction_by_hand(ms, fix):
    crit = InstanceCriterion(
        dict(type='SparseMatcher', topk=1, costs=[dict(type='MaskDiceCost', weight=1.0)]),
        num_classes=1, loss_weight=(0.5, 1.0, 1.0, 0.5), fix_dice_loss_weight=fix,
        fix_mean_loss=fix)
    layers = [_layer(ms), _layer(ms)]       # one auxiliary layer + the last
    out = crit(layers, _targets(ms))
    b, n = len(ms), sum(m > 0 for m in ms)
    dice_sum = sum(_dice(m) for m in ms if m)
    ln2 = math.log(2)
    if fix:
        bce = 2 * ln2                                   # Σ bce_i / n per layer, bce_i = ln 2
        dice = 4 * dice_sum / n + 4 * dice_sum / (b * n)   # last + auxiliary
    else:
        bce = 2 * n * ln2 / b
        dice = dice_sum + dice_sum / b
    # CE of zero logits over 2 classes is ln 2 for every query (one query: weights cancel)
    assert out['loss_cls'].item() == pytest.approx(2 * 0.5 * ln2, rel=1e-6)
    assert out['loss_bce'].item() == pytest.approx(bce, rel=1e-6)
    assert out['loss_dice'].item() == pytest.approx(dice, rel=1e-6)
    assert float(out['loss_score'].detach()) == 0
    if ms == (1, 2, 3, 0) and fix:    # batch of 4: the last layer's Dice is 4x the mean
        assert 4 * dice_sum / n == pytest.approx(4 * (0.5 + 0.4 + 1 / 3) / 3)
    sum(out.values()).backward()      # every layer's heads get a gradient
    assert all(m.grad is not None for layer in layers for m in layer['masks'])


def test_sparse_matching_on_real_scene_matches_inside_the_seed_instance():
    """The detector carries query_masks from the sampled queries; with SparseMatcher every
    matched query's seed superpoint belongs to its GT instance (not so with Hungarian)."""
    torch.manual_seed(0)
    model = build_model()
    model.criterion.matcher = SparseMatcher(model.criterion.matcher.costs, topk=1)
    pts, ins = real_points()
    batch = make_batch(pts, ins)
    batch['data_samples'][0].gt_pts_seg.sp_pts_mask = torch.from_numpy(   # graph superpoints
        compute_superpoints(pts[:, :6].numpy()).astype('int64'))
    data = model.data_preprocessor(batch, True)
    ds = data['data_samples'][0]
    sp_feats, p2s, sp_xyz, _ = model.extract_feat(model._split_inputs(data['inputs'],
                                                                   data['data_samples']))
    out = model.decoder(sp_feats, training=True, sp_xyz=sp_xyz)
    labels = ds.gt_instances_3d.labels_3d
    target = dict(labels=torch.zeros_like(labels), masks=model.sp_targets(
        p2s[0], ds.gt_pts_seg.pts_instance_mask, labels, sp_feats[0].shape[0]))
    target = model.add_query_masks([target], out['query_idx'])[0]
    seeds = out['query_idx'][0]
    assert target['query_masks'].shape == (len(labels), len(seeds))
    q, g = model.criterion.match(out['layers'][-1], [target])[0]
    assert len(q) > 0 and len(set(g.tolist())) == len(g)   # at most one query per GT (topk 1)
    assert (target['masks'][g, seeds[q]] == 1).all()
    # every GT instance with a seeded query inside is matched
    assert set(g.tolist()) == set(torch.nonzero(target['query_masks'].any(1)).flatten().tolist())
