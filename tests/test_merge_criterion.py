"""Merge criteria (online MV): ESAM's temporal centre contrast by hand and against a reference
written from ESAM's ``ScanNetMergeCriterion_Fast`` (tmp term), and our matched-query InfoNCE
by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from oneformer3d.models.online import ESAMMergeCriterion, MergeCriterion


def test_esam_merge_loss_by_hand():
    # frame 0: queries of instances 5, 5, 7 -> centres 5: (0.5, 0.5), 7: (0, 2)
    # frame 1: queries of instances 7, 9    -> centres 7: (1, 1),     9: (2, 0.5)
    f0 = (torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]]), torch.tensor([5, 5, 7]))
    f1 = (torch.tensor([[1.0, 1.0], [2.0, 0.5]]), torch.tensor([7, 9]))
    crit = ESAMMergeCriterion(temperature=0.5, loss_weight=2.0)
    # 0 -> 1: row 7 = (0, 2): logits (2, 1) / 0.5 = (4, 2), target 7
    # 1 -> 0: row 7 = (1, 1): logits against 5, 7 = (1, 2) / 0.5 = (2, 4), target 7
    expected = 2.0 * (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-2)))
    assert crit([f0, f1])['loss_merge'].item() == pytest.approx(expected, rel=1e-6)
    # a frame sharing no instance with its neighbour adds nothing
    f2 = (torch.tensor([[3.0, 1.0]]), torch.tensor([11]))
    assert crit([f0, f1, f2])['loss_merge'].item() == pytest.approx(expected, rel=1e-6)


def esam_tmp_reference(feats, ins_masks, tau, weight):
    """ESAM's tmp term as its code computes it: per instance (same index in every frame) the
    mean feature of its queries, zeros when absent; rows with a zero diagonal dropped, zero
    logits set to -inf, cross-entropy; summed over consecutive pairs in both directions."""
    def tmp(f0, m0, f1, m1):
        c0 = torch.stack([f0[m].mean(0) if len(m) else torch.zeros_like(f0[0]) for m in m0])
        c1 = torch.stack([f1[m].mean(0) if len(m) else torch.zeros_like(f1[0]) for m in m1])
        out = c0 @ c1.T / tau
        target = torch.arange(len(c0))
        keep = out.diag() != 0
        out, target = out[keep], target[keep]
        out = torch.where(out == 0, torch.full_like(out, -torch.inf), out)
        return F.cross_entropy(out, target) if len(target) else torch.tensor(0.0)
    total = 0.0
    for t in range(len(feats) - 1):
        total = total + tmp(feats[t], ins_masks[t], feats[t + 1], ins_masks[t + 1])
    for t in range(1, len(feats)):
        total = total + tmp(feats[t], ins_masks[t], feats[t - 1], ins_masks[t - 1])
    return weight * total


def test_esam_merge_loss_matches_the_reference_on_random_clips():
    g = torch.Generator().manual_seed(0)
    crit = ESAMMergeCriterion()          # ESAM: tau 0.07, tmp_weight 2.0
    for _ in range(5):
        num_inst, feats, masks, frames = 6, [], [], []
        for _t in range(4):
            q = 12
            emb = F.normalize(torch.randn(q, 8, generator=g), dim=1)
            # each query seeded in one instance or in none (-1); some instances absent
            owner = torch.randint(-1, num_inst, (q,), generator=g)
            feats.append(emb)
            masks.append([torch.nonzero(owner == i).flatten() for i in range(num_inst)])
            keep = owner >= 0
            frames.append((emb[keep], owner[keep] + 100))     # scene ids, any values
        ref = esam_tmp_reference(feats, masks, 0.07, 2.0)
        ours = crit(frames)['loss_merge']
        torch.testing.assert_close(ours, torch.as_tensor(ref, dtype=ours.dtype))


def test_esam_merge_selects_every_seeded_query():
    emb = [torch.arange(8.0).view(4, 2)]
    query_masks = torch.tensor([[True, False, True, False], [False, False, False, True]])
    sel = ESAMMergeCriterion.select(emb, [torch.tensor([3, 8])], [dict(query_masks=query_masks)],
                                    match=lambda: pytest.fail('ESAM does not match'))
    e, ids = sel[0]
    assert ids.tolist() == [3, 3, 8] and torch.equal(e, emb[0][[0, 2, 3]])


def test_matched_merge_loss_by_hand():
    # frame 0: matched queries of instances 1, 2; frame 1: of instances 2, 1
    e0, e1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.6, 0.8]])
    out = MergeCriterion(temperature=1.0, loss_weight=3.0)(
        [(e0, torch.tensor([1, 2])), (e1, torch.tensor([2, 1]))])['loss_merge']
    logits = e1 @ e0.T          # rows: frame-1 queries, targets: instance 2 -> col 1, 1 -> 0
    fwd = (-torch.log_softmax(logits, 1)[[0, 1], [1, 0]]).mean()
    bwd = (-torch.log_softmax(logits.T, 1)[[0, 1], [1, 0]]).mean()
    assert out.item() == pytest.approx(3.0 * float(fwd + bwd) / 2, rel=1e-6)
    sel = MergeCriterion.select([e0], [torch.tensor([4, 9])], [{}],
                                match=lambda: [(torch.tensor([1]), torch.tensor([0]))])
    assert sel[0][1].tolist() == [4] and torch.equal(sel[0][0], e0[[1]])
