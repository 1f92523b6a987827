"""Instance criterion: matched class, mask (BCE + Dice) and score losses on every decoder layer
(OneFormer3D ``InstanceCriterion``; Mask2Former losses)."""
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
        matcher: ``SparseMatcher`` (OneFormer3D / ESAM) or ``HungarianMatcher`` config.
        num_classes: K instance classes (1 = class-agnostic).
        loss_weight: weights of (class CE, mask BCE, mask Dice, score) — OneFormer3D
            ``(0.5, 1.0, 1.0, 0.5)``.
        non_object_weight: CE weight of the "no object" class.
        iter_matcher: match on every layer (True) or reuse the last layer's assignment.
        fix_dice_loss_weight, fix_mean_loss: upstream's reduction switches (both True in every
            OneFormer3D / ESAM ScanNet config), with upstream's semantics — see below.

    Reduction (``InstanceCriterion.__call__`` / ``get_layer_loss`` of ``filaPro/oneformer3d``
    ``oneformer3d/instance_criterion.py``; ``xuxw98/ESAM`` has the same code). With B samples
    in the batch, ``n`` of them with at least one matched GT instance, ``bce_i`` / ``dice_i`` the
    mean BCE / Dice over sample i's matched (query, GT) pairs and ``score_i`` its score MSE::

        cls   = mean_i CE_i                      (all B samples)
        bce   = Σ_i bce_i / B                    -> Σ_i bce_i / n       with fix_mean_loss
        dice  = Σ_i dice_i · c / B^a             a = 0 on the last layer, 1 on the others
              (c = 4 / B with fix_dice_loss_weight, else 1; then × B / n with fix_mean_loss)
        score = Σ_i score_i / B                  (samples whose matched IoU > 0.5)

    and bce = dice = 0 when n = 0. The last layer's Dice is not divided by B before the fix
    (upstream's ``__call__`` omits the ``/ len(pred_masks)`` of ``get_layer_loss``), so with
    both switches the last layer's Dice is ``4 · Σ dice_i / n`` and an auxiliary layer's is
    ``4 · Σ dice_i / (B n)``: at B = 4 with GT everywhere, 4× and 1× the plain mean; at B = 2,
    4× and 2×. This is what upstream trains with; we keep it.

    ``__call__(layers, targets)``: ``layers`` as returned by ``QueryDecoder`` (list over layers
    of dicts of per-sample lists); ``targets`` a list over samples of
    ``{'labels': (G,), 'masks': (G, S) float, 'query_masks': (G, Q) bool (SparseMatcher)}``.
    Returns ``{'loss_cls', 'loss_bce', 'loss_dice', 'loss_score'}`` summed over layers (their
    sum is upstream's ``inst_loss``). Samples without GT contribute only the "no object" CE,
    so empty-GT batches give finite losses that still reach every head.
    """

    def __init__(self, matcher: dict, num_classes: int = 1,
                 loss_weight: Sequence[float] = (0.5, 1.0, 1.0, 0.5),
                 non_object_weight: float = 0.1, iter_matcher: bool = True,
                 fix_dice_loss_weight: bool = True, fix_mean_loss: bool = True):
        self.matcher = TASK_UTILS.build(matcher)
        self.num_classes = num_classes
        self.loss_weight = tuple(loss_weight)
        self.non_object_weight = non_object_weight
        self.iter_matcher = iter_matcher
        self.fix_dice_loss_weight = fix_dice_loss_weight
        self.fix_mean_loss = fix_mean_loss

    def _layer_losses(self, layer: dict, targets: List[dict], indices, last: bool):
        w_cls, w_bce, w_dice, w_score = self.loss_weight
        cls_losses, bce, dice, score = [], [], [], []
        scores = layer.get('scores') or [None] * len(targets)
        zero = sum(m.sum() for m in layer['masks']) * 0   # keeps every head in the graph
        zero = zero + sum(s.sum() for s in scores if s is not None) * 0
        for i, gt in enumerate(targets):
            cls = layer['cls'][i]
            q_idx, g_idx = indices[i]
            tgt_cls = torch.full((cls.shape[0],), self.num_classes, dtype=torch.long,
                                 device=cls.device)
            tgt_cls[q_idx] = gt['labels'][g_idx]
            weight = cls.new_ones(self.num_classes + 1)
            weight[-1] = self.non_object_weight
            cls_losses.append(F.cross_entropy(cls, tgt_cls, weight))
            if q_idx.numel() == 0:   # no GT, or no query seeded in any (upstream: NaN)
                continue
            pred, tgt = layer['masks'][i][q_idx], gt['masks'][g_idx]
            bce.append(F.binary_cross_entropy_with_logits(pred, tgt))
            s = pred.sigmoid()
            dice.append((1 - (2 * (s * tgt).sum(-1) + 1) / (s.sum(-1) + tgt.sum(-1) + 1)).mean())
            if scores[i] is None:     # no objectness head (objectness_flag=False)
                continue
            iou = mask_iou(pred.detach(), tgt)
            keep = iou > 0.5
            if keep.any():
                pred_score = scores[i][q_idx].sigmoid()
                score.append(F.mse_loss(pred_score[keep], iou[keep]))
        b, n = len(targets), len(bce)
        loss_cls = torch.stack(cls_losses).mean()
        loss_score = torch.stack(score).sum() / b if score else zero
        if n == 0:
            return w_cls * loss_cls, zero, zero, w_score * loss_score
        loss_bce = torch.stack(bce).sum() / b
        loss_dice = torch.stack(dice).sum() / (1 if last else b)
        if self.fix_dice_loss_weight:
            loss_dice = loss_dice / b * 4
        if self.fix_mean_loss:
            loss_bce = loss_bce * b / n
            loss_dice = loss_dice * b / n
        return w_cls * loss_cls, w_bce * loss_bce, w_dice * loss_dice, w_score * loss_score

    def match(self, layer: dict, targets: List[dict]):
        return [self.matcher(dict(cls=layer['cls'][i], masks=layer['masks'][i]), gt)
                for i, gt in enumerate(targets)]

    def __call__(self, layers: List[dict], targets: List[dict]) -> dict:
        totals = [0.0, 0.0, 0.0, 0.0]
        last = self.match(layers[-1], targets)  # matched once per step, reused below
        for i, layer in enumerate(layers):
            is_last = i == len(layers) - 1
            indices = (self.match(layer, targets)
                       if self.iter_matcher and not is_last else last)
            for k, v in enumerate(self._layer_losses(layer, targets, indices, is_last)):
                totals[k] = totals[k] + v
        return dict(zip(('loss_cls', 'loss_bce', 'loss_dice', 'loss_score'), totals))
