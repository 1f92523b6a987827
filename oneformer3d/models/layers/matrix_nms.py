"""Matrix NMS (Wang et al., "SOLOv2", NeurIPS 2020, Eq. 4), as OneFormer3D applies to
superpoint masks: each mask's score decays by its IoU with every higher-scored mask."""
import torch


def matrix_nms(masks: torch.Tensor, scores: torch.Tensor, kernel: str = 'linear',
               sigma: float = 2.0) -> torch.Tensor:
    """Decayed scores, in the input order.

    Args:
        masks: (K, S) bool or 0/1 masks (e.g. over superpoints).
        scores: (K,) float.
        kernel: ``'linear'``: decay = min_i (1 - IoU_ij) / (1 - max IoU of i with higher
            masks); ``'gaussian'``: exp(-sigma (IoU_ij^2 - compensation_i^2)).
        sigma: gaussian kernel width.

    Returns:
        (K,) float decayed scores (a mask without a higher-scored overlapping mask keeps its
        score).
    """
    k = scores.shape[0]
    if k == 0:
        return scores
    order = scores.argsort(descending=True)
    m = masks[order].float()
    inter = m @ m.T
    area = m.sum(1)
    iou = (inter / (area[:, None] + area[None, :] - inter).clamp(min=1)).triu(diagonal=1)
    comp = iou.max(0).values[:, None].expand(k, k)  # row i: max IoU of i with higher masks
    if kernel == 'linear':
        decay = ((1 - iou) / (1 - comp).clamp(min=1e-6)).min(0).values
    elif kernel == 'gaussian':
        decay = torch.exp(-sigma * (iou ** 2 - comp ** 2)).min(0).values
    else:
        raise ValueError(f'unknown matrix NMS kernel {kernel!r}')
    out = torch.empty_like(scores)
    out[order] = scores[order] * decay.clamp(max=1.0)
    return out
