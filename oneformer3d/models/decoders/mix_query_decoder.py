"""ESAM's mixed query decoder: superpoint-level masks in the first layers, point-level masks
in the last ones, and an optional box branch.

Xu et al., "EmbodiedSAM: Online Segment Any 3D Thing in Real Time", ICLR 2025, §3.2;
``ScanNetMixQueryDecoder`` of ``xuxw98/ESAM`` ``oneformer3d/query_decoder.py`` (commit
84f70457). The layers, heads and query sampling are :class:`QueryDecoder`'s; what changes is
what each prediction level's masks are over and what each layer's cross-attention reads.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from ..layers import pool_rows
from .query_decoder import QueryDecoder, mlp


def point_to_superpoint_blocked(blocked: torch.Tensor, point2sp: torch.Tensor,
                                weight: Optional[torch.Tensor], num_sp: int) -> torch.Tensor:
    """ESAM's conversion of a point-level attention mask to a superpoint-level one.

    Args:
        blocked: (Q, N) bool, True where query q may not attend to point p.
        point2sp: (N,) int64 superpoint of each point, in ``[0, num_sp)``.
        weight: (N,) the pooling's per-point weights (``GeoAwarePooling``, in (0, 2)), or
            None for 1 (mean pooling).
        num_sp: S.

    Returns:
        (Q, S) bool: ``b_qs = mean_{p in s}(blocked_qp · w_p) > 0.5``, then every entry equal
        to its row's minimum score is unblocked (so no row is fully blocked: a fully blocked
        row makes the attention NaN). Upstream: ``scatter_mean(att * xyz_w, sp) > 0.5`` and
        ``attn_mask *= ~(score == score.min(dim=1))``.
    """
    score = blocked.to(torch.float32)
    if weight is not None:
        score = score * weight.to(torch.float32)[None]
    score = pool_rows(score.T, point2sp, num_sp, 'mean').T
    return (score > 0.5) & (score != score.min(dim=1, keepdim=True).values)


@MODELS.register_module()
class MixQueryDecoder(QueryDecoder):
    """:class:`QueryDecoder` with ESAM's point-level masks and box branch.

    Every argument of :class:`QueryDecoder`, plus:

    Args:
        mask_pred_mode: one entry per prediction level (L + 1: the initial queries, then
            after each layer), ``'SP'`` (masks over superpoints: the normalised query · the
            superpoint mask embedding ``x_mask``) or ``'P'`` (over points: · ``x_pts_mask`` of
            the point features concatenated with their xyz, 3 + C channels). The last must be
            ``'P'`` (upstream asserts it; the criterion matches the last layer point-wise).
            ESAM: ``['SP', 'SP', 'P', 'P']``.
        cross_attn_mode: one entry per prediction level; entry l + 1 is what decoder layer l
            attends to: ``'SP'`` (the projected superpoint features) or ``'P'`` (the points,
            ``input_pts_proj`` of the 3 + C features); entry 0 is unused (``''``). The
            attention mask comes from the previous level's prediction: a point-level mask
            for superpoint attention goes through :func:`point_to_superpoint_blocked`, a
            superpoint-level mask for point attention is spread to the points. ESAM:
            ``['', 'SP', 'SP', 'SP']``.
        bbox_flag: add the box head ``reg_head`` = MLP(d, d, 6) on the normalised queries; a
            query's box is ``(offset (3,) metres from its seed superpoint's centre,
            exp(size) (3,) metres)`` (upstream ``out_reg``; the criterion's IoU loss places it).
        share_attn_mlp, share_mask_mlp: upstream's switches to reuse ``input_proj`` /
            ``x_mask`` on the points; False in every upstream config (the point features have
            3 more channels than those MLPs take) and only False is accepted.

    ``forward`` also needs ``points`` (per sample ``{'feats': (N, C), 'xyz': (N, 3),
    'weight': (N,) or None}``, the detector's ``extract_feat``) and ``point2sp`` (per sample
    (N,) int64). Each layer's dict gains ``mask_mode`` and, with ``bbox_flag``, ``boxes``
    (per sample (Q, 6)); ``'P'`` levels' ``masks`` are (Q, N).

    Raises:
        ValueError: modes of the wrong length or values, the last mask mode not ``'P'``,
            a shared MLP asked for, ``points`` / ``point2sp`` missing.
    """

    needs_point_masks = True

    def __init__(self, mask_pred_mode: Sequence[str] = ('SP', 'SP', 'P', 'P'),
                 cross_attn_mode: Sequence[str] = ('', 'SP', 'SP', 'SP'),
                 bbox_flag: bool = False, share_attn_mlp: bool = False,
                 share_mask_mlp: bool = False, **kwargs):
        super().__init__(**kwargs)
        levels = len(self.layers) + 1
        mask_pred_mode, cross_attn_mode = list(mask_pred_mode), list(cross_attn_mode)
        if len(mask_pred_mode) != levels or len(cross_attn_mode) != levels:
            raise ValueError(f'MixQueryDecoder with {levels - 1} layers needs {levels} entries '
                             f'in mask_pred_mode and cross_attn_mode, got {mask_pred_mode} '
                             f'and {cross_attn_mode}')
        if set(mask_pred_mode) - {'SP', 'P'} or set(cross_attn_mode[1:]) - {'SP', 'P'}:
            raise ValueError(f"modes must be 'SP' or 'P', got {mask_pred_mode} and "
                             f'{cross_attn_mode}')
        if mask_pred_mode[-1] != 'P':
            raise ValueError("MixQueryDecoder's last mask_pred_mode must be 'P' (for "
                             "superpoint masks everywhere use QueryDecoder)")
        if share_attn_mlp or share_mask_mlp:
            raise ValueError('share_attn_mlp / share_mask_mlp are not supported: the point '
                             'features have 3 + C channels (upstream sets both False)')
        self.mask_pred_mode, self.cross_attn_mode = mask_pred_mode, cross_attn_mode
        c, d = self.input_proj[0].in_features, self.input_proj[0].out_features
        self.input_pts_proj = (nn.Sequential(nn.Linear(3 + c, d), nn.LayerNorm(d), nn.ReLU())
                               if 'P' in cross_attn_mode[1:] else None)
        self.x_pts_mask = mlp(3 + c, d, d)
        self.reg_head = mlp(d, d, 6) if bbox_flag else None
        self.predicts_boxes = bbox_flag

    def mask_mode(self, level: int) -> str:
        return self.mask_pred_mode[level]

    def _sources(self, feats, xyz, points, point2sp) -> dict:
        if points is None or point2sp is None:
            raise ValueError('MixQueryDecoder needs the per-point features (points=) and '
                             'point2sp= (OneFormer3D.extract_feat returns both)')
        src = super()._sources(feats, xyz, points, point2sp)
        pfeats = torch.cat([points['xyz'].to(points['feats'].dtype), points['feats']], dim=1)
        src['pts_mask_feats'] = self.x_pts_mask(pfeats)
        if self.input_pts_proj is not None:
            src['pts'] = self.input_pts_proj(pfeats)
        src.update(point2sp=point2sp, weight=points.get('weight'), num_sp=feats.shape[0])
        return src

    def _mask_feats(self, src, level: int) -> torch.Tensor:
        return src['pts_mask_feats'] if self.mask_mode(level) == 'P' else src['mask_feats']

    def _predict(self, q, src, level: int) -> dict:
        out = super()._predict(q, src, level)
        if self.reg_head is not None:
            reg = self.reg_head(self.out_norm(q))
            out['boxes'] = torch.cat([reg[:, :3], reg[:, 3:].exp()], dim=1)
        return out

    def _cross_source(self, src, prev: dict, layer: int):
        to_points = self.cross_attn_mode[layer + 1] == 'P'
        keys = src['pts'] if to_points else src['sp']
        if not self.attn_mask:
            return keys, None
        blocked = self._attn_mask(prev['masks'])
        from_points = self.mask_mode(layer) == 'P'
        if from_points and not to_points:
            blocked = point_to_superpoint_blocked(blocked, src['point2sp'], src['weight'],
                                                  src['num_sp'])
        elif to_points and not from_points:
            blocked = blocked[:, src['point2sp']]
        return keys, blocked
