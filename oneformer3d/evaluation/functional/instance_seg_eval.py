"""ScanNet 3D instance-segmentation evaluation (AP, AP50, AP25), equal to the official script.

Protocol: ScanNet ``BenchmarkScripts/3d_evaluation/evaluate_semantic_instance.py`` as written
down in ``../shared/EVAL_PROTOCOL.md``:

* GT instances are the (class, id) pairs with ``id > 0`` and a class in ``valid_class_ids``;
  every other point is void. GT instances below ``min_region_size`` (100) points are not
  scored; predictions below it, or with a label outside the table, are dropped.
* Thresholds ``np.arange(0.5, 0.95, 0.05)`` (9 values, 0.50..0.90) plus 0.25; ``all_ap`` is the
  nanmean over classes of the mean over those 9.
* Matching per class/threshold/scene: GT in ascending id order, candidates in input order with
  IoU > threshold and not used up; the GT is one TP scored with the highest candidate score,
  the other candidates are duplicate FPs; only the first candidate is used up.
* Unmatched predictions are FPs unless their share on void + too-small GT of the class exceeds
  the threshold. AP integrates the precision/recall curve with the official step widths.

Memory stays bounded on large sets: :func:`match_scene` reduces one scene to a few small
arrays (sizes, scores, labels and the prediction x GT intersection matrix), and
:func:`evaluate_matches` only sees those. Nothing loops over points in Python.
"""
import warnings
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import sparse

OVERLAPS = np.append(np.arange(0.5, 0.95, 0.05), 0.25)  # 9 values 0.50..0.90, then 0.25


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@contextmanager
def _quiet_nanmean():
    """Silence numpy's 'Mean of empty slice' for all-NaN rows (they stay NaN, by design)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', category=RuntimeWarning)
        yield


def match_scene(gt_semantic_mask, gt_instance_mask, pred_instance_masks, pred_instance_labels,
                pred_instance_scores, num_classes: int, min_region_size: int = 100) -> dict:
    """Reduce one scene to what the AP computation needs.

    Args:
        gt_semantic_mask: (N,) int, index into the class list; values outside
            ``[0, num_classes)`` are not instances.
        gt_instance_mask: (N,) int instance ids; ids <= 0 are not instances.
        pred_instance_masks: (K, N) bool; masks may overlap.
        pred_instance_labels: (K,) int index into the class list.
        pred_instance_scores: (K,) float confidences.
        num_classes: length of the class list.
        min_region_size: minimum points of a scored GT instance and of a kept prediction.

    Returns:
        dict of numpy arrays: ``gt_label`` (G,), ``gt_size`` (G,) (GT in ascending
        (class, id) order), ``pred_label`` (P,), ``pred_score`` (P,), ``pred_size`` (P,),
        ``pred_void`` (P,) points on void, ``inter`` (P, G) intersections; P counts the
        predictions kept, in input order.

    Raises:
        ValueError: on shape mismatches (the message gives the shapes).
    """
    sem = _to_numpy(gt_semantic_mask).astype(np.int64).reshape(-1)
    ins = _to_numpy(gt_instance_mask).astype(np.int64).reshape(-1)
    masks = _to_numpy(pred_instance_masks).astype(bool)
    labels = _to_numpy(pred_instance_labels).astype(np.int64).reshape(-1)
    scores = _to_numpy(pred_instance_scores).astype(np.float64).reshape(-1)
    n = sem.shape[0]
    if masks.ndim == 1 and masks.size == 0:
        masks = masks.reshape(0, n)
    if ins.shape[0] != n or masks.ndim != 2 or masks.shape[1] != n:
        raise ValueError(f'shape mismatch: gt_semantic_mask {sem.shape}, gt_instance_mask '
                         f'{ins.shape}, pred_instance_masks {masks.shape}')
    if not (masks.shape[0] == labels.shape[0] == scores.shape[0]):
        raise ValueError(f'shape mismatch: {masks.shape[0]} masks, {labels.shape[0]} labels, '
                         f'{scores.shape[0]} scores')

    valid = (sem >= 0) & (sem < num_classes) & (ins > 0)
    key = np.where(valid, sem * (int(ins.max(initial=0)) + 1) + ins, -1)
    uniq, gt_index = np.unique(key[valid], return_inverse=True)
    num_gt = uniq.shape[0]
    point_gt = np.full(n, num_gt, dtype=np.int64)  # num_gt = void column
    point_gt[valid] = gt_index
    gt_label = uniq // (int(ins.max(initial=0)) + 1)
    gt_size = np.bincount(gt_index, minlength=num_gt)

    pred_size = masks.sum(axis=1)
    keep = (pred_size >= min_region_size) & (labels >= 0) & (labels < num_classes)
    masks, labels, scores, pred_size = masks[keep], labels[keep], scores[keep], pred_size[keep]
    onehot = sparse.csr_matrix((np.ones(n, dtype=np.float32), (np.arange(n), point_gt)),
                               shape=(n, num_gt + 1))
    inter = np.asarray(onehot.T @ masks.T.astype(np.float32)).T.round().astype(np.int64)
    inter = inter.reshape(masks.shape[0], num_gt + 1)
    return dict(gt_label=gt_label, gt_size=gt_size, pred_label=labels, pred_score=scores,
                pred_size=pred_size, pred_void=inter[:, num_gt], inter=inter[:, :num_gt])


def _average_precision(y_true: np.ndarray, y_score: np.ndarray, hard_fn: int) -> float:
    """AP of one class at one threshold, with the official precision/recall construction."""
    order = np.argsort(y_score, kind='stable')
    y_score, y_true = y_score[order], y_true[order]
    cumsum = np.cumsum(y_true)
    _, unique_idx = np.unique(y_score, return_index=True)
    num_examples = len(y_score)
    num_true = cumsum[-1] if len(cumsum) else 0
    precision = np.zeros(len(unique_idx) + 1)
    recall = np.zeros(len(unique_idx) + 1)
    cumsum = np.append(cumsum, 0)  # cumsum[-1] == 0 for idx 0
    for k, idx in enumerate(unique_idx):
        tp = num_true - cumsum[idx - 1]
        fp = num_examples - idx - tp
        fn = cumsum[idx - 1] + hard_fn
        precision[k] = tp / (tp + fp)
        recall[k] = tp / (tp + fn)
    precision[-1], recall[-1] = 1.0, 0.0
    r = np.concatenate([[recall[0]], recall, [0.0]])
    step = np.convolve(r, [-0.5, 0, 0.5], 'valid')
    return float(np.dot(precision, step))


def _class_scene_records(matches: Sequence[dict], num_classes: int, min_region_size: int):
    """Group each scene's arrays by class once: {class: [(iou, inter, scorable, ...), ...]}."""
    per_class: Dict[int, list] = {c: [] for c in range(num_classes)}
    for m in matches:
        classes = np.union1d(np.unique(m['gt_label']), np.unique(m['pred_label']))
        for c in classes.astype(int):
            g = np.flatnonzero(m['gt_label'] == c)
            p = np.flatnonzero(m['pred_label'] == c)
            inter = m['inter'][np.ix_(p, g)].astype(np.float64)
            union = m['pred_size'][p, None] + m['gt_size'][None, g] - inter
            iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
            small = m['gt_size'][g] < min_region_size
            per_class[c].append(dict(
                iou=iou, overlap=inter > 0, scorable=~small, score=m['pred_score'][p],
                size=m['pred_size'][p].astype(np.float64),
                ignore=m['pred_void'][p] + inter[:, small].sum(axis=1)))
    return per_class


def _class_ap(records: list, threshold: float) -> float:
    """AP of one class at one IoU threshold over all scenes (EVAL_PROTOCOL.md §4–7)."""
    y_true, y_score = [], []
    hard_fn, has_gt, has_pred = 0, False, False
    for r in records:
        num_pred = r['score'].shape[0]
        gts = np.flatnonzero(r['scorable'])
        has_gt |= gts.size > 0
        has_pred |= num_pred > 0
        used = np.zeros(num_pred, dtype=bool)
        for g in gts:
            cands = np.flatnonzero(r['overlap'][:, g] & ~used & (r['iou'][:, g] > threshold))
            if cands.size == 0:
                hard_fn += 1
                continue
            used[cands[0]] = True
            s = r['score'][cands]
            best = int(np.argmax(s))
            y_true.append(1.0)
            y_score.append(s[best])
            dup = np.delete(s, best)
            y_true.extend([0.0] * dup.size)
            y_score.extend(dup.tolist())
        matched_any = (r['overlap'] & (r['iou'] > threshold)).any(axis=1)
        fp = ~matched_any & (r['ignore'] / np.maximum(r['size'], 1) <= threshold)
        y_true.extend([0.0] * int(fp.sum()))
        y_score.extend(r['score'][fp].tolist())
    if has_gt and has_pred:
        return _average_precision(np.asarray(y_true), np.asarray(y_score, dtype=np.float64),
                                  hard_fn)
    return 0.0 if has_gt else float('nan')


def evaluate_matches(matches: Sequence[dict], class_labels: Sequence[str],
                     min_region_size: int = 100) -> dict:
    """AP table from per-scene records of :func:`match_scene`.

    Returns:
        ``{'all_ap', 'all_ap_50%', 'all_ap_25%', 'classes': {name: {'ap', 'ap50%', 'ap25%'}}}``
        (mmdetection3d's key names); NaN for classes without scorable GT.
    """
    per_class = _class_scene_records(matches, len(class_labels), min_region_size)
    ap = np.full((len(class_labels), len(OVERLAPS)), np.nan)
    for c in range(len(class_labels)):
        if per_class[c]:
            ap[c] = [_class_ap(per_class[c], th) for th in OVERLAPS]
    i50 = int(np.flatnonzero(np.isclose(OVERLAPS, 0.5))[0])
    i25 = int(np.flatnonzero(np.isclose(OVERLAPS, 0.25))[0])
    with np.errstate(all='ignore'), _quiet_nanmean():
        cls_ap = np.nanmean(ap[:, :i25], axis=1)
        out = {'all_ap': float(np.nanmean(cls_ap)),
               'all_ap_50%': float(np.nanmean(ap[:, i50])),
               'all_ap_25%': float(np.nanmean(ap[:, i25]))}
    out['classes'] = {name: {'ap': float(cls_ap[c]), 'ap50%': float(ap[c, i50]),
                             'ap25%': float(ap[c, i25])}
                      for c, name in enumerate(class_labels)}
    return out


def instance_seg_eval(gt_semantic_masks: List, gt_instance_masks: List,
                      pred_instance_masks: List, pred_instance_labels: List,
                      pred_instance_scores: List, valid_class_ids: Sequence[int],
                      class_labels: Sequence[str], min_region_size: int = 100,
                      logger=None) -> dict:
    """ScanNet instance-segmentation AP over a list of scenes (see the module docstring).

    Args:
        gt_semantic_masks: per scene (N_i,) int, index into ``valid_class_ids``; values
            outside ``[0, len(valid_class_ids))`` are not instances.
        gt_instance_masks: per scene (N_i,) int instance ids; ids <= 0 are not instances.
        pred_instance_masks: per scene (K_i, N_i) bool, masks may overlap.
        pred_instance_labels: per scene (K_i,) int index into ``valid_class_ids``.
        pred_instance_scores: per scene (K_i,) float.
        valid_class_ids: raw ids of the evaluated classes (only its length is used; kept for
            mmdetection3d's signature).
        class_labels: names, same length and order as ``valid_class_ids``.
        min_region_size: minimum size of scored GT and kept predictions (100 points).
        logger: unused; results are returned (use :func:`format_instance_table` to print).

    Arrays may be numpy arrays or torch tensors.

    Returns:
        ``{'all_ap', 'all_ap_50%', 'all_ap_25%', 'classes': {name: {'ap','ap50%','ap25%'}}}``.
    """
    if len(valid_class_ids) != len(class_labels):
        raise ValueError(f'{len(valid_class_ids)} valid_class_ids but {len(class_labels)} '
                         f'class_labels')
    n = len(gt_semantic_masks)
    if not (len(gt_instance_masks) == len(pred_instance_masks) == len(pred_instance_labels)
            == len(pred_instance_scores) == n):
        raise ValueError('all per-scene argument lists must have the same length')
    matches = [match_scene(*args, num_classes=len(class_labels),
                           min_region_size=min_region_size)
               for args in zip(gt_semantic_masks, gt_instance_masks, pred_instance_masks,
                               pred_instance_labels, pred_instance_scores)]
    return evaluate_matches(matches, class_labels, min_region_size)


def to_class_agnostic(gt_semantic_mask, pred_instance_labels, num_classes: int):
    """Map a scene to the class-agnostic protocol (EVAL_PROTOCOL.md §9): every GT point of a
    valid class becomes class 0 (``object``), the rest -1; every prediction becomes 0."""
    sem = _to_numpy(gt_semantic_mask).astype(np.int64)
    labels = _to_numpy(pred_instance_labels)
    return (np.where((sem >= 0) & (sem < num_classes), 0, -1),
            np.zeros(labels.shape[0], dtype=np.int64))


def instance_seg_eval_class_agnostic(gt_semantic_masks, gt_instance_masks, pred_instance_masks,
                                     pred_instance_scores, num_classes: int,
                                     min_region_size: int = 100) -> dict:
    """Class-agnostic AP (ESAM's ScanNet200 protocol): one class ``object``.

    ``gt_semantic_masks`` index a table of ``num_classes`` instance classes as in
    :func:`instance_seg_eval`; predictions carry no labels.
    """
    sems, labels = [], []
    for sem, scores in zip(gt_semantic_masks, pred_instance_scores):
        s, lab = to_class_agnostic(sem, scores, num_classes)
        sems.append(s)
        labels.append(lab)
    return instance_seg_eval(sems, gt_instance_masks, pred_instance_masks, labels,
                             pred_instance_scores, valid_class_ids=(0,),
                             class_labels=('object',), min_region_size=min_region_size)


def split_ap(results: dict, splits: Dict[str, Sequence[str]]) -> dict:
    """Mean AP/AP50/AP25 over class groups, e.g. ScanNet200 head/common/tail.

    Returns:
        ``{'<split>_ap': .., '<split>_ap_50%': .., '<split>_ap_25%': ..}`` (nanmean over the
        group's classes present in ``results['classes']``).
    """
    out = {}
    for name, classes in splits.items():
        rows = [results['classes'][c] for c in classes if c in results['classes']]
        with _quiet_nanmean():
            for key, suffix in (('ap', ''), ('ap50%', '_50%'), ('ap25%', '_25%')):
                vals = np.array([r[key] for r in rows], dtype=np.float64)
                out[f'{name}_ap{suffix}'] = float(np.nanmean(vals)) if vals.size else float('nan')
    return out


def format_instance_table(results: dict, extra: Optional[dict] = None) -> str:
    """Plain-text table of per-class and overall AP/AP50/AP25."""
    lines = [f'{"class":<28}{"AP":>8}{"AP50":>8}{"AP25":>8}', '-' * 52]
    for name, r in results['classes'].items():
        if np.isnan(r['ap50%']) and np.isnan(r['ap25%']):
            continue
        lines.append(f'{name:<28}{r["ap"]:>8.4f}{r["ap50%"]:>8.4f}{r["ap25%"]:>8.4f}')
    lines.append('-' * 52)
    lines.append(f'{"overall":<28}{results["all_ap"]:>8.4f}{results["all_ap_50%"]:>8.4f}'
                 f'{results["all_ap_25%"]:>8.4f}')
    for k, v in (extra or {}).items():
        lines.append(f'{k:<28}{v:>8.4f}')
    return '\n'.join(lines)
