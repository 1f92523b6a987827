"""Instance/semantic evaluation: equal to the official protocol on real ScanNet scenes."""
import os.path as osp

import numpy as np
import pytest
import torch

from oneformer3d.evaluation.functional import (coverage_from_matches, instance_seg_eval,
                                               instance_seg_eval_class_agnostic, match_scene,
                                               seg_eval, split_ap)
from oneformer3d.metainfo import SCANNET20, SCANNET200
from tests.conftest import data_path
from tests.helpers.official_eval import OVERLAPS, official_eval


def load_gt(scene):
    root = data_path('scannet', 'scans')
    sem = np.load(osp.join(root, f'{scene}_sem_label.npy')).astype(np.int64)
    ins = np.load(osp.join(root, f'{scene}_ins_label.npy')).astype(np.int64)
    inst_sem = SCANNET20.seg_to_inst[SCANNET20.map_raw_to_seg(sem)]  # -1 for wall/floor/none
    return inst_sem, ins


def perturbed_predictions(sem, ins, rng):
    """Predictions made from GT the way real models err: exact, eroded, grown into a
    neighbour, split, relabelled, duplicated, tiny, and random blobs; random scores."""
    masks, labels = [], []
    ids = [i for i in np.unique(ins) if i > 0 and sem[ins == i][0] >= 0]
    n = sem.shape[0]
    for i in ids:
        m = ins == i
        c = int(sem[m][0])
        kind = rng.integers(0, 7)
        if kind == 0:
            masks.append(m); labels.append(c)
        elif kind == 1:
            e = m & (rng.random(n) > 0.35); masks.append(e); labels.append(c)
        elif kind == 2:
            j = rng.choice(ids); masks.append(m | ((ins == j) & (rng.random(n) < 0.5)))
            labels.append(c)
        elif kind == 3:
            idx = np.flatnonzero(m); half = idx[: len(idx) // 2]
            a = np.zeros(n, bool); a[half] = True
            masks += [a, m & ~a]; labels += [c, c]
        elif kind == 4:
            masks.append(m); labels.append(int(rng.integers(0, 18)))
        elif kind == 5:
            masks += [m, m & (rng.random(n) > 0.2), m & (rng.random(n) > 0.6)]
            labels += [c, c, c]
        else:
            masks.append(m & (rng.random(n) < 0.1)); labels.append(c)
    for _ in range(5):  # blobs on random points (often on void: wall/floor)
        start = rng.integers(0, n - 3000)
        b = np.zeros(n, bool); b[start:start + int(rng.integers(50, 3000))] = True
        masks.append(b); labels.append(int(rng.integers(0, 18)))
    masks = np.stack(masks)
    scores = rng.random(len(labels)).round(2)  # ties on purpose
    return masks, np.array(labels), scores


@pytest.mark.parametrize('seed', [0, 1])
def test_equals_official_on_real_scenes(seed):
    rng = np.random.default_rng(seed)
    gts = [load_gt(s) for s in ('scene0000_00', 'scene0000_01')]
    preds = [perturbed_predictions(sem, ins, rng) for sem, ins in gts]
    args = ([g[0] for g in gts], [g[1] for g in gts], [p[0] for p in preds],
            [p[1] for p in preds], [p[2] for p in preds])
    names = SCANNET20.inst_class_names
    ours = instance_seg_eval(*args, valid_class_ids=SCANNET20.inst_class_ids,
                             class_labels=names)
    ref = official_eval(*args, num_classes=len(names))
    i50, i25 = 0, len(OVERLAPS) - 1
    with np.errstate(all='ignore'):
        import warnings
        warnings.simplefilter('ignore')
        ref_all = np.nanmean(np.nanmean(ref[:, :i25], axis=1))
    assert ours['all_ap'] == pytest.approx(ref_all, abs=1e-12)
    assert ours['all_ap_50%'] == pytest.approx(np.nanmean(ref[:, i50]), abs=1e-12)
    assert ours['all_ap_25%'] == pytest.approx(np.nanmean(ref[:, i25]), abs=1e-12)
    for c, name in enumerate(names):
        got = ours['classes'][name]['ap25%']
        assert (np.isnan(got) and np.isnan(ref[c, i25])) or got == pytest.approx(ref[c, i25])
    # the perturbations must make this a non-trivial check
    assert 0.05 < ours['all_ap'] < 0.95

    # class-agnostic equals the official run on labels collapsed to one class
    agn = instance_seg_eval_class_agnostic(args[0], args[1], args[2], args[4], num_classes=18)
    sems1 = [np.where(s >= 0, 0, -1) for s in args[0]]
    ref1 = official_eval(sems1, args[1], args[2], [np.zeros_like(l) for l in args[3]], args[4], 1)
    assert agn['all_ap_50%'] == pytest.approx(ref1[0, i50])
    assert agn['all_ap'] == pytest.approx(ref1[0, :i25].mean())


def test_perfect_predictions_score_one_and_torch_inputs():
    sem, ins = load_gt('scene0000_00')
    ids = [i for i in np.unique(ins) if i > 0 and sem[ins == i][0] >= 0]
    masks = torch.from_numpy(np.stack([ins == i for i in ids]))
    labels = torch.tensor([int(sem[ins == i][0]) for i in ids])
    res = instance_seg_eval([torch.from_numpy(sem)], [torch.from_numpy(ins)], [masks], [labels],
                            [torch.ones(len(ids))], SCANNET20.inst_class_ids,
                            SCANNET20.inst_class_names)
    assert res['all_ap'] == 1.0 and res['all_ap_50%'] == 1.0 and res['all_ap_25%'] == 1.0
    present = {SCANNET20.inst_class_names[int(sem[ins == i][0])] for i in ids
               if (ins == i).sum() >= 100}
    for name, r in res['classes'].items():
        assert np.isnan(r['ap']) == (name not in present)


def _one_gt_scene(n=1000):
    sem = np.full(n, -1); ins = np.zeros(n, int)
    sem[:200] = 0; ins[:200] = 1   # the one GT instance, class 0
    return sem, ins


def test_hand_computed_cases():
    sem, ins = _one_gt_scene()
    gt = np.zeros(1000, bool); gt[:200] = True
    far = np.zeros(1000, bool); far[400:600] = True  # on void
    # An FP on void is ignored (share on void 1.0 > threshold): AP = 1.
    r = instance_seg_eval([sem], [ins], [np.stack([gt, far])], [np.array([0, 0])],
                          [np.array([0.5, 0.99])], (0,), ('a',))
    assert r['all_ap_50%'] == 1.0
    # Off void: points 400..599 become a second GT and the FP is far|gt (400 points). Its IoU
    # with each GT is 200/400 = 0.5, not > 0.5, so at AP50 gt (0.5) is the TP of GT 1, GT 2
    # stays unmatched (FN) and far|gt (0.99) is an FP: ranked [0.99 FP, 0.5 TP] over 2 GT,
    # precision [0.5, 0, 1] and recall [0.5, 0, 0]; the official step widths (recall
    # convolved with [-0.5, 0, 0.5]) are [0.25, 0.25, 0] -> AP = 0.5 * 0.25 = 0.125, as the
    # literal port of the official loop gives
    sem2 = sem.copy(); ins2 = ins.copy(); sem2[400:600] = 0; ins2[400:600] = 2
    preds = ([np.stack([gt, far | gt])], [np.array([0, 0])], [np.array([0.5, 0.99])])
    r = instance_seg_eval([sem2], [ins2], *preds, (0,), ('a',))
    assert r['all_ap_50%'] == pytest.approx(0.125)
    assert official_eval([sem2], [ins2], *preds, 1)[0, 0] == pytest.approx(0.125)
    # A prediction with a wrong label is dropped from the class's matching: AP = 0.
    r = instance_seg_eval([sem], [ins], [gt[None]], [np.array([1])], [np.array([1.0])],
                          (0, 1), ('a', 'b'))
    assert r['classes']['a']['ap50%'] == 0.0 and np.isnan(r['classes']['b']['ap50%'])
    # Predictions under 100 points are dropped; GT under 100 points is not scored (NaN).
    small = np.zeros(1000, bool); small[:99] = True
    r = instance_seg_eval([sem], [ins], [small[None]], [np.array([0])], [np.array([1.0])],
                          (0,), ('a',))
    assert r['all_ap_50%'] == 0.0
    sem3 = sem.copy(); sem3[99:200] = -1; ins3 = np.where(sem3 >= 0, ins, 0)
    r = instance_seg_eval([sem3], [ins3], [small[None]], [np.array([0])], [np.array([1.0])],
                          (0,), ('a',))
    assert np.isnan(r['all_ap'])


def test_duplicate_can_match_a_later_gt_at_ap25():
    """EVAL_PROTOCOL §4: only the first candidate is used up; at IoU 0.25 a duplicate can
    still become the TP of a later GT."""
    n = 1000
    sem = np.full(n, -1); ins = np.zeros(n, int)
    sem[:300] = 0; ins[:150] = 1; ins[150:300] = 2
    a = np.zeros(n, bool); a[:150] = True           # exact GT 1
    b = np.zeros(n, bool); b[:300] = True           # IoU 0.5 with GT 1 and with GT 2
    r = instance_seg_eval([sem], [ins], [np.stack([a, b])], [np.array([0, 0])],
                          [np.array([0.9, 0.8])], (0,), ('a',))
    # at 0.25: GT1 candidates [a, b] -> TP 0.9, duplicate FP 0.8, a used up; GT2 candidate b
    # -> TP 0.8. y = [(0.8,F), (0.8,T), (0.9,T)]: precision [2/3, 1, 1], recall [1, 1/2, 0],
    # step widths [1/4, 1/2, 1/4] -> AP = 1/6 + 1/2 + 1/4 = 11/12
    ref = official_eval([sem], [ins], [np.stack([a, b])], [np.array([0, 0])],
                        [np.array([0.9, 0.8])], 1)
    assert r['all_ap_25%'] == pytest.approx(ref[0, -1])
    assert r['all_ap_25%'] == pytest.approx(11 / 12)


def test_coverage_and_splits():
    sem, ins = load_gt('scene0000_00')
    ids = [i for i in np.unique(ins) if i > 0 and sem[ins == i][0] >= 0]
    masks = np.stack([ins == i for i in ids])
    m = match_scene(sem, ins, masks, np.array([int(sem[ins == i][0]) for i in ids]),
                    np.ones(len(ids)), num_classes=18)
    cov = coverage_from_matches([m])
    assert cov == {'mCov': 1.0, 'mWCov': 1.0, 'mPrec': 1.0, 'mRec': 1.0}
    eroded = masks & (np.random.default_rng(0).random(masks.shape) < 0.4)  # IoU ~0.4
    m = match_scene(sem, ins, eroded, np.zeros(len(ids), int), np.ones(len(ids)), 18)
    cov = coverage_from_matches([m])
    assert 0.3 < cov['mCov'] < 0.5 and cov['mRec'] == 0.0 and cov['mPrec'] == 0.0
    res = {'classes': {n: {'ap': 1.0, 'ap50%': 1.0, 'ap25%': 1.0} for n in SCANNET200.splits['head']}}
    res['classes']['pillow'] = {'ap': np.nan, 'ap50%': np.nan, 'ap25%': np.nan}
    sp = split_ap(res, SCANNET200.splits)
    assert sp['head_ap'] == 1.0 and np.isnan(sp['tail_ap'])


def test_semantic_miou_on_real_labels():
    root = data_path('scannet', 'scans')
    sem = SCANNET20.map_raw_to_seg(np.load(osp.join(root, 'scene0000_00_sem_label.npy')))
    res = seg_eval([sem], [sem], SCANNET20.seg_class_names, SCANNET20.ignore_index)
    assert res['miou'] == 1.0 and res['acc'] == 1.0
    wrong = np.where(sem == 0, 1, sem)  # wall predicted as floor
    res = seg_eval([sem], [wrong], SCANNET20.seg_class_names, SCANNET20.ignore_index)
    assert res['classes']['wall'] == 0.0
    assert res['classes']['bed'] == 1.0 and np.isnan(res['classes']['chair'])  # absent
    floor, wall = (sem == 1).sum(), (sem == 0).sum()
    assert res['classes']['floor'] == pytest.approx(floor / (floor + wall))


def test_class_agnostic_ap_of_a_class_aware_model_counts_each_query_once():
    """A class-aware model keeps top-k (query, class) pairs, so a query's mask can appear under
    several labels. The class-agnostic record keeps each query once (its best score): on the
    real scene, GT masks each predicted under their true label (score in [0.5, 1]) and a
    second label (a lower score) score class-agnostic AP 1.0 like the single-label set; counted
    twice the copies are false positives ranked above weaker queries' true masks."""
    from oneformer3d.evaluation.metrics import InstanceSegMetric
    sem_raw = np.load(osp.join(data_path('scannet', 'scans'), 'scene0000_00_sem_label.npy'))
    sem = SCANNET20.map_raw_to_seg(sem_raw.astype(np.int64))
    _, ins = load_gt('scene0000_00')
    inst_sem = SCANNET20.seg_to_inst[sem]
    ids = [i for i in np.unique(ins) if i > 0 and inst_sem[ins == i][0] >= 0]
    masks = np.stack([ins == i for i in ids])
    labels = np.array([int(inst_sem[ins == i][0]) for i in ids])
    rng = np.random.default_rng(0)
    best = rng.uniform(0.5, 1.0, len(ids))  # each query's best class score
    # every query twice: true label with its best score, another label with a score that
    # ranks the copy above other queries' true masks
    dup_masks = np.concatenate([masks, masks])
    dup_labels = np.concatenate([labels, (labels + 1) % 18])
    dup_scores = np.concatenate([best, best - 0.3 * rng.random(len(ids))])
    query = np.concatenate([np.arange(len(ids))] * 2)

    def ca_ap(with_query: bool):
        metric = InstanceSegMetric()
        metric.dataset_meta = dict(dataset='scannet')
        pred = dict(pts_instance_mask=torch.from_numpy(dup_masks),
                    instance_labels=torch.from_numpy(dup_labels),
                    instance_scores=torch.from_numpy(dup_scores))
        if with_query:
            pred['query_index'] = torch.from_numpy(query)
        metric.process(None, [dict(gt_pts_seg=dict(pts_semantic_mask=sem, pts_instance_mask=ins),
                                   pred_instances_3d=pred)])
        return metric.compute_metrics(metric.results)

    once, twice = ca_ap(True), ca_ap(False)
    assert once['ca_ap50'] == pytest.approx(1.0) and once['ca_ap'] == pytest.approx(1.0)
    assert once['mPrec'] == 1.0
    assert twice['ca_ap50'] < 0.9  # the copies are false positives without query_index
    # class-aware AP still scores every (query, class) pair, copies included
    assert once['ap50'] == twice['ap50'] < 1.0
