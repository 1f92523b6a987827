"""``ActionPolicy``: an input route's token encoder + the shared ``ActionHead`` (stage 2)."""
from typing import Optional

from mmengine.model import BaseModel

from oneformer3d.registry import MODELS


def format_predictions(decoded: dict, data_samples: dict) -> list:
    """One dict per sample for :class:`~oneformer3d.evaluation.ActionMetric`:
    ``pred_trans`` / ``pred_quat`` / ``pred_open`` (from :meth:`ActionHead.decode`), the
    sample's targets, ``episode``, ``step``, ``is_keyframe``."""
    ds = data_samples
    return [dict(pred_trans=decoded['trans'][i].detach().cpu(),
                 pred_quat=decoded['quat'][i].detach().cpu(),
                 pred_open=decoded['open_prob'][i].detach().cpu(),
                 target_trans=ds['target_trans'][i].cpu(), target_quat=ds['target_quat'][i].cpu(),
                 target_open=ds['target_open'][i].cpu(), is_keyframe=bool(ds['is_keyframe'][i]),
                 episode=ds['episode'][i], step=int(ds['step'][i]))
            for i in range(len(decoded['trans']))]


@MODELS.register_module()
class ActionPolicy(BaseModel):
    """Predicts each step's next-keyframe gripper pose and open state.

    Args:
        head: ``ActionHead`` config (identical for every route).
        token_encoder: the route's encoder (``PointTokenEncoder`` / ``PackTokenEncoder``);
            None = proprioception only.

    ``loss`` returns the head's losses; ``predict`` returns one dict per sample with
    ``pred_trans`` (3,), ``pred_quat`` (4,) xyzw, ``pred_open`` () probability and the
    sample's targets, ``episode``, ``step``, ``is_keyframe``, for :class:`ActionMetric`.
    """

    def __init__(self, head: dict, token_encoder: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.token_encoder = MODELS.build(token_encoder) if token_encoder else None
        self.head = MODELS.build(head)

    def _forward(self, inputs: dict, data_samples=None) -> dict:
        if self.token_encoder is None:
            return self.head(inputs['proprio'].float())
        tokens = self.token_encoder(inputs)
        return self.head(inputs['proprio'].float(), tokens,
                         self.token_encoder.positions(inputs, tokens))

    def forward(self, inputs: dict, data_samples: Optional[dict] = None, mode: str = 'tensor'):
        pred = self._forward(inputs)
        if mode == 'tensor':
            return pred
        if mode == 'loss':
            ds = data_samples
            return self.head.loss(pred, ds['target_trans'].float(), ds['target_quat'].float(),
                                  ds['target_open'])
        if mode == 'predict':
            return format_predictions(self.head.decode(pred), data_samples)
        raise ValueError(f'ActionPolicy: unknown mode {mode!r}')
