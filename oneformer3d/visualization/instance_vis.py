"""Predicted instances beside the ground truth, top-down (``make demo``)."""
import os
import os.path as osp

import numpy as np

from .stream_vis import instance_colours


def save_instances_topdown_png(path: str, xyz: np.ndarray, gt_instance: np.ndarray,
                               pred_masks: np.ndarray, pred_scores: np.ndarray,
                               score_thr: float = 0.1, title: str = '') -> str:
    """Two top-down panels of one scene: GT instances (left; id 0 = none, grey) and the
    predicted instance masks with score >= ``score_thr`` (right; each point takes the
    highest-scored mask covering it, uncovered points grey).

    Args:
        path: PNG to write (folders made).
        xyz: (N, 3) float points (metres; x, y plotted).
        gt_instance: (N,) int GT instance ids, 0 = no instance.
        pred_masks: (K, N) bool predicted masks.
        pred_scores: (K,) float scores.
        score_thr: masks below this score are not drawn.

    Returns:
        ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    xyz = np.asarray(xyz)
    gt_instance = np.asarray(gt_instance)
    pred_masks = np.asarray(pred_masks, dtype=bool).reshape(-1, len(xyz))
    pred_scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    keep = np.flatnonzero(pred_scores >= score_thr)
    keep = keep[np.argsort(-pred_scores[keep])]
    pred_id = np.zeros(len(xyz), dtype=np.int64)
    for rank, k in enumerate(keep[::-1]):      # highest score painted last
        pred_id[pred_masks[k]] = len(keep) - rank
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    n_gt = len(np.unique(gt_instance[gt_instance > 0]))
    panels = ((axes[0], gt_instance, f'ground truth: {n_gt} instances'),
              (axes[1], pred_id, f'prediction: {len(keep)} masks (score >= {score_thr})'))
    for ax, ids, name in panels:
        uniq, inv = np.unique(ids, return_inverse=True)
        colours = instance_colours(len(uniq) + 1, seed=1)[inv]
        colours[ids == 0] = 0.85
        order = np.argsort(xyz[:, 2])          # higher points drawn on top
        ax.scatter(xyz[order, 0], xyz[order, 1], s=0.5, c=colours[order])
        ax.set_aspect('equal')
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
