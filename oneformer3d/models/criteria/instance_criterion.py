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


def box_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(M, 6) ``(centre xyz, size xyz)`` -> (M, 6) ``(min xyz, max xyz)``."""
    return torch.cat([boxes[:, :3] - boxes[:, 3:] / 2, boxes[:, :3] + boxes[:, 3:] / 2], 1)


def seed_boxes(boxes: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """ESAM's box parameterisation: (M, 6) ``(offset xyz, size xyz)`` predicted by a query and
    (M, 3) the centroid of its seed superpoint -> (M, 6) ``(min xyz, max xyz)``, metres."""
    return box_corners(torch.cat([centres + boxes[:, :3], boxes[:, 3:]], dim=1))


def axis_aligned_iou(pred: torch.Tensor, target: torch.Tensor,
                     eps: float = 1e-6) -> torch.Tensor:
    """(M,) IoU of paired axis-aligned boxes, each (M, 6) ``(min xyz, max xyz)`` in metres;
    the union is clamped at ``eps`` (mmdet3d ``axis_aligned_bbox_overlaps_3d``,
    ``is_aligned=True``). ``1 - IoU`` averaged is mmdet3d's ``AxisAlignedIoULoss`` (weight 1,
    mean), ESAM's box loss."""
    lo = torch.maximum(pred[:, :3], target[:, :3])
    hi = torch.minimum(pred[:, 3:], target[:, 3:])
    inter = (hi - lo).clamp(min=0).prod(1)
    vol_p = (pred[:, 3:] - pred[:, :3]).prod(1)
    vol_t = (target[:, 3:] - target[:, :3]).prod(1)
    return inter / (vol_p + vol_t - inter).clamp(min=eps)


@MODELS.register_module()
class InstanceCriterion:
    """Losses of the query decoder's outputs against superpoint-level GT instances.

    Args:
        matcher: ``SparseMatcher`` (OneFormer3D / ESAM) or ``HungarianMatcher`` config.
        num_classes: K instance classes (1 = class-agnostic).
        loss_weight: weights of (class CE, mask BCE, mask Dice, score) — OneFormer3D
            ``(0.5, 1.0, 1.0, 0.5)`` — and optionally a fifth, the box IoU loss (ESAM
            ``MixedInstanceCriterion``: ``(0.5, 1.0, 1.0, 0.5, 0.5)``; with four weights a
            decoder's boxes are not supervised, as upstream).
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

    Point-level layers (ESAM ``MixedInstanceCriterion``): a layer whose ``mask_mode`` is
    ``'P'`` (``MixQueryDecoder``) is matched and supervised against the targets'
    ``point_masks`` (G, N) instead of ``masks`` (G, S); the rest is the same.

    Boxes (ESAM): a layer with ``boxes`` (per sample (Q, 6): offset from the query's seed
    superpoint centre, size; metres) and a fifth loss weight adds
    ``box = Σ_i mean_{matched} (1 - IoU(centre_q + offset_q, size_q; box_g)) / B`` (the samples
    with matches, divided by all B as upstream), against the targets' ``boxes`` (G, 6)
    ``(centre, size)`` and ``query_centres`` (Q, 3).

    ``__call__(layers, targets)``: ``layers`` as returned by ``QueryDecoder`` (list over layers
    of dicts of per-sample lists); ``targets`` a list over samples of
    ``{'labels': (G,), 'masks': (G, S) float, 'query_masks': (G, Q) bool (SparseMatcher)}``
    (and ``point_masks`` / ``boxes`` / ``query_centres`` as above).
    Returns ``{'loss_cls', 'loss_bce', 'loss_dice', 'loss_score'}`` (and ``loss_bbox`` with a
    fifth weight) summed over layers (their sum is upstream's ``inst_loss``). Samples without
    GT contribute only the "no object" CE, so empty-GT batches give finite losses that still
    reach every head.

    Raises:
        ValueError: a point-level layer without ``point_masks`` in the targets, a box layer
            with a fifth weight but no ``boxes`` / ``query_centres``, not 4 or 5 weights.
    """

    def __init__(self, matcher: dict, num_classes: int = 1,
                 loss_weight: Sequence[float] = (0.5, 1.0, 1.0, 0.5),
                 non_object_weight: float = 0.1, iter_matcher: bool = True,
                 fix_dice_loss_weight: bool = True, fix_mean_loss: bool = True):
        self.matcher = TASK_UTILS.build(matcher)
        self.num_classes = num_classes
        if len(loss_weight) not in (4, 5):
            raise ValueError(f'InstanceCriterion takes 4 loss weights (cls, bce, dice, score) '
                             f'or 5 (+ box IoU), got {list(loss_weight)}')
        self.loss_weight = tuple(loss_weight)
        self.non_object_weight = non_object_weight
        self.iter_matcher = iter_matcher
        self.fix_dice_loss_weight = fix_dice_loss_weight
        self.fix_mean_loss = fix_mean_loss

    @staticmethod
    def _mask_key(layer: dict, targets: List[dict]) -> str:
        if layer.get('mask_mode', 'SP') == 'SP':
            return 'masks'
        if any('point_masks' not in t for t in targets):
            raise ValueError("a point-level decoder layer (mask_mode 'P') needs "
                             "'point_masks' (G, N) in every target")
        return 'point_masks'

    def _box_terms(self, layer: dict, targets: List[dict], indices):
        """Per matched sample, the mean ``1 - IoU`` (list), or None when not supervised."""
        if len(self.loss_weight) < 5 or layer.get('boxes') is None:
            return None
        if any('boxes' not in t or 'query_centres' not in t for t in targets):
            raise ValueError("a decoder with boxes and a fifth loss weight needs 'boxes' "
                             "(G, 6) and 'query_centres' (Q, 3) in every target")
        terms = []
        for boxes, gt, (q_idx, g_idx) in zip(layer['boxes'], targets, indices):
            if q_idx.numel() == 0:
                continue
            iou = axis_aligned_iou(seed_boxes(boxes[q_idx], gt['query_centres'][q_idx]),
                                   box_corners(gt['boxes'][g_idx]))
            terms.append((1 - iou).mean())
        return terms

    def _layer_losses(self, layer: dict, targets: List[dict], indices, last: bool):
        w_cls, w_bce, w_dice, w_score = self.loss_weight[:4]
        key = self._mask_key(layer, targets)
        cls_losses, bce, dice, score = [], [], [], []
        scores = layer.get('scores') or [None] * len(targets)
        zero = sum(m.sum() for m in layer['masks']) * 0   # keeps every head in the graph
        zero = zero + sum(s.sum() for s in scores if s is not None) * 0
        if layer.get('boxes') is not None:
            zero = zero + sum(b.sum() for b in layer['boxes']) * 0
        boxes = self._box_terms(layer, targets, indices)
        loss_box = [] if boxes is None else [
            self.loss_weight[4] * (torch.stack(boxes).sum() / len(targets) if boxes else zero)]
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
            pred, tgt = layer['masks'][i][q_idx], gt[key][g_idx]
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
            return (w_cls * loss_cls, zero, zero, w_score * loss_score, *loss_box)
        loss_bce = torch.stack(bce).sum() / b
        loss_dice = torch.stack(dice).sum() / (1 if last else b)
        if self.fix_dice_loss_weight:
            loss_dice = loss_dice / b * 4
        if self.fix_mean_loss:
            loss_bce = loss_bce * b / n
            loss_dice = loss_dice * b / n
        return (w_cls * loss_cls, w_bce * loss_bce, w_dice * loss_dice, w_score * loss_score,
                *loss_box)

    def match(self, layer: dict, targets: List[dict]):
        """Per sample ``(query ids, GT ids)`` of ``layer`` (point-level layers are matched
        on ``point_masks``, as ESAM's criterion does)."""
        key = self._mask_key(layer, targets)
        return [self.matcher(dict(cls=layer['cls'][i], masks=layer['masks'][i]),
                             gt if key == 'masks' else dict(gt, masks=gt[key]))
                for i, gt in enumerate(targets)]

    def __call__(self, layers: List[dict], targets: List[dict]) -> dict:
        totals = [0.0] * 4
        last = self.match(layers[-1], targets)  # matched once per step, reused below
        for i, layer in enumerate(layers):
            is_last = i == len(layers) - 1
            indices = (self.match(layer, targets)
                       if self.iter_matcher and not is_last else last)
            for k, v in enumerate(self._layer_losses(layer, targets, indices, is_last)):
                if k == len(totals):
                    totals.append(0.0)
                totals[k] = totals[k] + v
        return dict(zip(('loss_cls', 'loss_bce', 'loss_dice', 'loss_score', 'loss_bbox'),
                        totals))
