"""Instance coverage metrics mCov, mWCov, mPrec, mRec (S3DIS-style; SoftGroup/ISBNet lineage).

Definitions (``../shared/EVAL_PROTOCOL.md``): over all scored GT instances of all scenes,
mCov is the mean of each GT's best IoU with any prediction, mWCov weights that mean by GT
size; at IoU >= 0.5, mPrec = matched predictions / predictions and mRec = matched GT / GT.
The instance sets are those of the AP protocol: GT with >= ``min_region_size`` points,
predictions with >= ``min_region_size`` points and a valid label. Classes are ignored when
pairing (a coverage metric), so the numbers are the same with class-agnostic labels.
"""
from typing import Sequence

import numpy as np


def coverage_from_matches(matches: Sequence[dict], min_region_size: int = 100,
                          iou_threshold: float = 0.5) -> dict:
    """mCov/mWCov/mPrec/mRec from :func:`instance_seg_eval.match_scene` records."""
    best_iou, sizes = [], []
    num_pred, matched_pred = 0, 0
    for m in matches:
        scored = m['gt_size'] >= min_region_size
        inter = m['inter'][:, scored].astype(np.float64)
        gsize = m['gt_size'][scored].astype(np.float64)
        union = m['pred_size'][:, None] + gsize[None, :] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        best_iou.append(iou.max(axis=0, initial=0.0))
        sizes.append(gsize)
        num_pred += iou.shape[0]
        matched_pred += int((iou >= iou_threshold).any(axis=1).sum())
    best = np.concatenate(best_iou) if best_iou else np.zeros(0)
    size = np.concatenate(sizes) if sizes else np.zeros(0)
    nan = float('nan')
    return {
        'mCov': float(best.mean()) if best.size else nan,
        'mWCov': float((best * size).sum() / size.sum()) if size.sum() > 0 else nan,
        'mPrec': matched_pred / num_pred if num_pred else nan,
        'mRec': float((best >= iou_threshold).mean()) if best.size else nan,
    }
