"""Instance criterion: Hungarian-matched class, mask (BCE + Dice) and score losses on every
decoder layer (OneFormer3D ``InstanceCriterion``; Mask2Former losses)."""
from typing import List, Sequence

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS, TASK_UTILS


def mask_iou(pred_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of binarised predictions (logit > 0) with 0/1 targets, row by row: (M,)."""
    p = (pred_logits > 0).float()
    inter = (p * target).sum(-1)
    union = p.sum(-1) + target.sum(-1) - inter
    return inter / union.clamp(min=1)


@MODELS.register_module()
class InstanceCriterion:
    """Losses of the query decoder's outputs against superpoint-level GT instances.

    Args:
        matcher: ``HungarianMatcher`` config.
        num_classes: K instance classes (1 = class-agnostic).
        loss_weight: weights of (class CE, mask BCE, mask Dice, score) — OneFormer3D
            ``(0.5, 1.0, 1.0, 0.5)``.
        non_object_weight: CE weight of the "no object" class.
        iter_matcher: match on every layer (True) or reuse the last layer's assignment.

    ``__call__(layers, targets)``: ``layers`` as returned by ``QueryDecoder`` (list over layers
    of dicts of per-sample lists); ``targets`` a list over samples of
    ``{'labels': (G,), 'masks': (G, S) float}``. Returns ``{'loss_cls', 'loss_bce',
    'loss_dice', 'loss_score'}`` summed over layers. A sample without GT contributes only the
    "no object" CE, so empty-GT batches give finite losses.
    """

    def __init__(self, matcher: dict, num_classes: int = 1,
                 loss_weight: Sequence[float] = (0.5, 1.0, 1.0, 0.5),
                 non_object_weight: float = 0.1, iter_matcher: bool = True):
        self.matcher = TASK_UTILS.build(matcher)
        self.num_classes = num_classes
        self.loss_weight = tuple(loss_weight)
        self.non_object_weight = non_object_weight
        self.iter_matcher = iter_matcher

    def _layer_losses(self, layer: dict, targets: List[dict], indices):
        w_cls, w_bce, w_dice, w_score = self.loss_weight
        cls_losses, bce, dice, score = [], [], [], []
        for i, gt in enumerate(targets):
            cls = layer['cls'][i]
            q_idx, g_idx = indices[i]
            tgt_cls = torch.full((cls.shape[0],), self.num_classes, dtype=torch.long,
                                 device=cls.device)
            tgt_cls[q_idx] = gt['labels'][g_idx]
            weight = cls.new_ones(self.num_classes + 1)
            weight[-1] = self.non_object_weight
            cls_losses.append(F.cross_entropy(cls, tgt_cls, weight))
            masks = layer['masks'][i]
            if q_idx.numel() == 0:
                zero = masks.sum() * 0
                bce.append(zero)
                dice.append(zero)
                score.append(zero + layer['scores'][i].sum() * 0)
                continue
            pred, tgt = masks[q_idx], gt['masks'][g_idx]
            bce.append(F.binary_cross_entropy_with_logits(pred, tgt))
            s = pred.sigmoid()
            dice.append((1 - (2 * (s * tgt).sum(-1) + 1) / (s.sum(-1) + tgt.sum(-1) + 1)).mean())
            iou = mask_iou(pred.detach(), tgt)
            keep = iou > 0.5
            pred_score = layer['scores'][i][q_idx].sigmoid()
            score.append(F.mse_loss(pred_score[keep], iou[keep]) if keep.any()
                         else pred_score.sum() * 0)
        mean = lambda xs: torch.stack(xs).mean()  # noqa: E731
        return (w_cls * mean(cls_losses), w_bce * mean(bce), w_dice * mean(dice),
                w_score * mean(score))

    def match(self, layer: dict, targets: List[dict]):
        return [self.matcher(dict(cls=layer['cls'][i], masks=layer['masks'][i]), gt)
                for i, gt in enumerate(targets)]

    def __call__(self, layers: List[dict], targets: List[dict]) -> dict:
        totals = [0.0, 0.0, 0.0, 0.0]
        last = self.match(layers[-1], targets)  # matched once per step, reused below
        for i, layer in enumerate(layers):
            indices = (self.match(layer, targets)
                       if self.iter_matcher and i < len(layers) - 1 else last)
            for k, v in enumerate(self._layer_losses(layer, targets, indices)):
                totals[k] = totals[k] + v
        return dict(zip(('loss_cls', 'loss_bce', 'loss_dice', 'loss_score'), totals))
