"""Semantic segmentation metrics (per-class IoU, mIoU, overall accuracy) from a confusion matrix."""
from typing import Sequence

import numpy as np


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int,
                     ignore_index: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = GT, cols = prediction; GT points equal
    to ``ignore_index`` or outside ``[0, num_classes)`` are skipped.

    Raises:
        ValueError: when ``gt`` and ``pred`` differ in shape.
    """
    gt = np.asarray(gt).astype(np.int64).reshape(-1)
    pred = np.asarray(pred).astype(np.int64).reshape(-1)
    if gt.shape != pred.shape:
        raise ValueError(f'gt {gt.shape} and pred {pred.shape} differ in shape')
    keep = (gt != ignore_index) & (gt >= 0) & (gt < num_classes)
    pred = np.clip(pred[keep], 0, num_classes - 1)
    return np.bincount(gt[keep] * num_classes + pred,
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_from_confusion(hist: np.ndarray) -> np.ndarray:
    """Per-class IoU (C,) from a confusion matrix; NaN for classes absent from GT and
    predictions."""
    tp = np.diag(hist).astype(np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        return tp / (hist.sum(0) + hist.sum(1) - tp)


def seg_eval(gt_labels: Sequence, seg_preds: Sequence, class_names: Sequence[str],
             ignore_index: int) -> dict:
    """mIoU over scenes (the confusion matrices are summed, as in mmdetection3d's ``seg_eval``).

    Args:
        gt_labels: per scene (N_i,) int train ids; ``ignore_index`` marks unlabeled points.
        seg_preds: per scene (N_i,) int predicted train ids.
        class_names: names of the ``len(class_names)`` classes.
        ignore_index: label of unlabeled points.

    Returns:
        ``{'miou', 'acc', 'acc_cls', 'classes': {name: iou}}``; a class absent from GT and
        predictions has IoU NaN and is left out of the mean.
    """
    n = len(class_names)
    hist = np.zeros((n, n), dtype=np.int64)
    for gt, pred in zip(gt_labels, seg_preds):
        if hasattr(gt, 'cpu'):
            gt = gt.cpu().numpy()
        if hasattr(pred, 'cpu'):
            pred = pred.cpu().numpy()
        hist += confusion_matrix(gt, pred, n, ignore_index)
    tp = np.diag(hist).astype(np.float64)
    iou = iou_from_confusion(hist)
    with np.errstate(invalid='ignore', divide='ignore'):
        acc_cls = tp / hist.sum(1)
    return {'miou': float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan'),
            'acc': float(tp.sum() / max(hist.sum(), 1)),
            'acc_cls': float(np.nanmean(acc_cls)) if np.isfinite(acc_cls).any() else float('nan'),
            'classes': {name: float(iou[k]) for k, name in enumerate(class_names)}}
