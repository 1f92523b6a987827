"""Label-aware matrix NMS (Wang et al., "SOLOv2", NeurIPS 2020, Sec. 4.2 / Eq. 4), as
OneFormer3D applies it to superpoint masks through mmdet's ``mask_matrix_nms``: a mask's score
decays only by its IoU with higher-scored masks **of the same label**; masks of other labels
(e.g. a second class hypothesis of the same query) never suppress it."""
import torch


def matrix_nms(masks: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor,
               kernel: str = 'linear', sigma: float = 2.0) -> torch.Tensor:
    """Decayed scores, in the input order.

    For masks sorted by descending score, with ``IoU_ij`` the IoU of masks i < j (i scored
    higher) and ``same_ij`` = (label_i == label_j):

    * ``comp_i = max_{k < i, same_ki} IoU_ki`` (how much mask i was itself suppressed);
    * ``'linear'``: ``decay_j = min_{i < j, same_ij} (1 - IoU_ij) / (1 - comp_i)``;
    * ``'gaussian'``: ``decay_j = min_{i < j, same_ij} exp(-sigma (IoU_ij^2 - comp_i^2))``;
    * ``score_j <- score_j * decay_j`` (1 when no higher mask of the same label exists).

    Args:
        masks: (K, S) bool, 0/1 or soft [0, 1] masks (e.g. sigmoid mask probabilities over
            superpoints, as OneFormer3D passes them); IoU = (m_i . m_j) / (|m_i| + |m_j| -
            m_i . m_j).
        labels: (K,) int class of each mask; class-agnostic models pass one label for all.
        scores: (K,) float.
        kernel: ``'linear'`` or ``'gaussian'``.
        sigma: gaussian kernel width (SOLOv2: 2.0).

    Returns:
        (K,) decayed scores (same dtype as ``scores``).

    Raises:
        ValueError: unknown ``kernel`` or inputs of different lengths.
    """
    k = scores.shape[0]
    if not (masks.shape[0] == labels.shape[0] == k):
        raise ValueError(f'matrix_nms: {masks.shape[0]} masks, {labels.shape[0]} labels, '
                         f'{k} scores')
    if kernel not in ('linear', 'gaussian'):
        raise ValueError(f'unknown matrix NMS kernel {kernel!r}')
    if k == 0:
        return scores
    order = scores.argsort(descending=True)
    m = masks[order].float()
    lab = labels[order]
    inter = m @ m.T
    area = m.sum(1)
    iou = (inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-6)).triu(diagonal=1)
    iou = iou * (lab[:, None] == lab[None, :])  # rows i (higher) x columns j (lower)
    comp = iou.max(0).values[:, None]  # (K, 1): row i's own suppression
    if kernel == 'linear':
        decay = ((1 - iou) / (1 - comp).clamp(min=1e-6)).min(0).values
    else:
        decay = torch.exp(-sigma * (iou ** 2 - comp ** 2)).min(0).values
    out = torch.empty_like(scores)
    out[order] = scores[order] * decay.clamp(max=1.0).to(scores.dtype)
    return out
