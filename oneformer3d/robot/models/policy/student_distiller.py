"""``StudentDistiller``: distil the frozen RGB teacher into one small image network (stage 3)."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from oneformer3d.registry import MODELS
from .action_policy import format_predictions


@MODELS.register_module()
class StudentDistiller(BaseModel):
    """Teacher (:class:`RGBTeacher`, frozen) and student (:class:`TimmStudent`) on the same
    raw anchor frame; no point clouds are needed.

    Losses on the token sets ``s``, ``t`` (B, K, D): ``loss_cos`` = mean(1 − cos(s_k, t_k)),
    ``loss_nmse`` = mean(‖s_k − t_k‖² / ‖t_k‖²) (feature regression, as X-Distill / MobileSAM
    regress the teacher's features); optional ``loss_head`` (weight ``head``, 0 = off): the
    frozen stage-2 head's own loss (:meth:`ActionHead.loss`: L1 on the translation in m,
    chordal rotation distance, BCE on the open state) of its output on ``s`` against its
    output on ``t`` (the teacher's open probability as a soft target) — distillation through
    the head, in the action's units, so it does not vanish at centimetre errors as an MSE in
    metres would.

    The teacher's tokens come from ``inputs['tokens']`` when the batch has them (the packs,
    which the teacher's own encoders wrote — the same values up to fp16 storage, tested —
    so training skips the ViTs), else from running the teacher on the frame.

    ``predict`` runs the frozen head on the student's tokens (``predict_with='student'``) or
    the teacher's (``'teacher'``: the reference of the comparison) and returns
    :class:`~oneformer3d.evaluation.ActionMetric` records.
    """

    def __init__(self, teacher: dict, student: dict,
                 loss_weights: Optional[Dict[str, float]] = None,
                 predict_with: str = 'student', data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if predict_with not in ('student', 'teacher'):
            raise ValueError(f"predict_with: 'student' or 'teacher', got {predict_with!r}")
        self.teacher = MODELS.build(teacher)
        self.student = MODELS.build(student)
        self.loss_weights = {**dict(cos=1.0, nmse=1.0, head=0.0), **(loss_weights or {})}
        self.predict_with = predict_with

    def teacher_tokens(self, inputs: dict) -> torch.Tensor:
        if 'tokens' in inputs:
            with torch.no_grad():
                return self.teacher.token_encoder(inputs)
        return self.teacher(inputs['image'])

    def positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Grid positions of a token set in the teacher's order (student and teacher alike)."""
        return self.teacher.token_encoder.positions({}, tokens)

    def forward(self, inputs: dict, data_samples: Optional[dict] = None, mode: str = 'tensor'):
        images = inputs['image']
        if mode == 'tensor':
            return self.student(images)
        if mode == 'loss':
            t = self.teacher_tokens(inputs)
            s = self.student(images)
            w = self.loss_weights
            losses = dict(
                loss_cos=w['cos'] * (1 - F.cosine_similarity(s, t, dim=-1)).mean(),
                loss_nmse=w['nmse'] * ((s - t).square().sum(-1) /
                                       t.square().sum(-1).clamp_min(1e-6)).mean())
            if w['head'] > 0:
                proprio = inputs['proprio'].float()
                pos = self.positions(t)
                with torch.no_grad():
                    pt = self.teacher.head.decode(self.teacher.head(proprio, t, pos))
                head = self.teacher.head.loss(self.teacher.head(proprio, s, pos), pt['trans'],
                                              pt['quat'], pt['open_prob'])
                losses['loss_head'] = w['head'] * sum(head.values())
            return losses
        if mode == 'predict':
            tokens = self.student(images) if self.predict_with == 'student' else \
                self.teacher_tokens(inputs)
            pred = self.teacher.head(inputs['proprio'].float(), tokens, self.positions(tokens))
            return format_predictions(self.teacher.head.decode(pred), data_samples)
        raise ValueError(f'StudentDistiller: unknown mode {mode!r}')
