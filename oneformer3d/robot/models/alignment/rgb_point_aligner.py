"""``RGBPointAligner``: the alignment study's model (stage 1 and route 2) on mmengine.

* ``task='point_patch'`` (stage 1): each encoder's 2D feature at every point's pixel ->
  ``Adapter`` -> fusion over encoders -> per-point RGB embedding; the point's teacher feature
  (or xyz) -> ``PointProjector``; :class:`PointPatchInfoNCE` over sampled pairs.
* ``task='distill'`` (route 2): ``num_tokens`` tokens per frame and encoder, vectorised as
  ``(B·T·K, C_e)`` -> ``Adapter`` -> mean over tokens -> ``TemporalGatedPooling`` over the T
  frames -> fusion over encoders -> student embedding; teacher = projected mean of ``pc_feat``
  over ``K_t`` points; :class:`ClipInfoNCE` (learnable ``logit_scale``, optional queue / nMSE).

``predict`` returns per sample ``{'rgb_emb', 'pc_emb', 'episode', 'step'}`` (point_patch
also ``rgb_point_emb`` / ``pc_point_emb`` (M, D) of the points the anchor camera sees) for
:class:`~oneformer3d.evaluation.metrics.RetrievalMetric`; ``fusion_weights()`` the current
per-encoder weights (:class:`~oneformer3d.engine.hooks.TrainingCurvesHook` plots them).
"""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModel

from oneformer3d.registry import MODELS


@MODELS.register_module()
class RGBPointAligner(BaseModel):
    """See the module docstring.

    Args:
        encoders: ``{encoder name: channels of its pack}`` (order = fusion order).
        dim: shared embedding width D.
        task: ``'point_patch'`` | ``'distill'``.
        fusion: ``WeightedFusion`` | ``MoEFusion`` config (``num_encoders``/``dim`` filled in).
        temporal_pooling: ``TemporalGatedPooling`` config (distill).
        point_projector: ``PointProjector`` config.
        criterion: ``ClipInfoNCE`` (distill) or ``PointPatchInfoNCE`` (point_patch) config.
    """

    def __init__(self, encoders: Dict[str, int], dim: int = 256, task: str = 'distill',
                 fusion: Optional[dict] = None, temporal_pooling: Optional[dict] = None,
                 point_projector: Optional[dict] = None, criterion: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if task not in ('point_patch', 'distill'):
            raise ValueError(f"task must be 'point_patch' or 'distill', got {task!r}")
        self.task, self.names = task, list(encoders)
        self.adapters = torch.nn.ModuleDict({
            n: MODELS.build(dict(type='Adapter', in_channels=c, out_channels=dim))
            for n, c in encoders.items()})
        fusion = dict(fusion or dict(type='WeightedFusion'), num_encoders=len(encoders),
                      dim=dim)
        self.fusion = MODELS.build(fusion)
        self.temporal = MODELS.build(dict(temporal_pooling or dict(type='TemporalGatedPooling'),
                                          dim=dim)) if task == 'distill' else None
        self.projector = MODELS.build(dict(point_projector or dict(type='PointProjector'),
                                           out_channels=dim))
        # batch-normalised student embedding (as in SimCLR-style projection heads): removes
        # the component shared by all samples of one scene before the contrast
        self.student_norm = torch.nn.BatchNorm1d(dim)
        default = dict(type='ClipInfoNCE' if task == 'distill' else 'PointPatchInfoNCE')
        self.criterion = MODELS.build(criterion or default)

    def fusion_weights(self) -> torch.Tensor:
        return self.fusion.weights().detach().cpu()

    # ---------------------------------------------------------------- embeddings
    def rgb_embed(self, inputs: dict):
        """``(B, D)`` (distill) or ``(B, P, D)`` (point_patch) and the fusion's aux losses."""
        per_enc = []
        for name in self.names:
            if self.task == 'distill':
                x = inputs['tokens'][name].float()                    # (B, T, K, C)
                b, t, k, c = x.shape
                y = self.adapters[name](x.reshape(b * t * k, c)).reshape(b, t, k, -1)
                per_enc.append(self.temporal(y.mean(2)))              # (B, D)
            else:
                per_enc.append(self.adapters[name](inputs['patches'][name].float()))
        fused, aux = self.fusion(torch.stack(per_enc))
        shape = fused.shape
        return self.student_norm(fused.reshape(-1, shape[-1])).reshape(shape), aux

    def pc_embed(self, inputs: dict) -> torch.Tensor:
        feat, xyz = inputs.get('pc_feat'), inputs['xyz']
        if self.task == 'distill':       # teacher: pooled pc_feat of the K_t points
            return self.projector(None if feat is None else feat.float().mean(1),
                                  xyz.float().mean(1))
        return self.projector(feat, xyz)

    # ---------------------------------------------------------------- modes
    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        rgb, aux = self.rgb_embed(inputs)
        pc = self.pc_embed(inputs)
        if mode == 'loss':
            if self.task == 'distill':
                losses = self.criterion(rgb, pc)
            else:
                valid = inputs.get('valid')
                losses = self.criterion(pc.flatten(0, 1), rgb.flatten(0, 1),
                                        None if valid is None else valid.flatten())
            losses.update(aux)
            return losses
        points = None
        if self.task == 'point_patch':        # set level: mean over the valid points
            valid = inputs['valid']
            points = [(rgb[i][valid[i]], pc[i][valid[i]]) for i in range(len(rgb))]
            w = valid.float().unsqueeze(-1)
            rgb = (rgb * w).sum(1) / w.sum(1).clamp(min=1)
            pc = (pc * w).sum(1) / w.sum(1).clamp(min=1)
        if mode == 'tensor':
            return rgb, pc
        meta = data_samples or {}
        out = []
        for i in range(len(rgb)):
            item = dict(rgb_emb=rgb[i].detach().cpu(), pc_emb=pc[i].detach().cpu(),
                        episode=meta.get('episode', [None] * len(rgb))[i],
                        step=meta.get('step', [None] * len(rgb))[i])
            if points is not None:      # per-point embeddings of the visible points
                item.update(rgb_point_emb=points[i][0].detach().cpu(),
                            pc_point_emb=points[i][1].detach().cpu())
            out.append(item)
        return out
