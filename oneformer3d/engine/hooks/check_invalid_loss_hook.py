"""``CheckInvalidLossHook``: a non-finite loss stops training with an error naming the iteration.

mmdetection's hook of this name asserts ``torch.isfinite(loss)`` every ``interval`` iterations;
here every iteration (the loss is a host value for the logger anyway) and with an error a user
can act on. The Runner registers it in every training run (:class:`~oneformer3d.engine.Runner`),
whether or not a config lists it, so a diverged run never goes on to write checkpoints and
metrics rows that look normal. With ``--amp`` (:class:`~oneformer3d.engine.
MixedPrecisionOptimWrapper`) a step with non-finite gradients is skipped and counted instead
(the documented fp16 behaviour): the hook then lets it pass.
"""
import math

import torch
from mmengine.hooks import Hook

from oneformer3d.registry import HOOKS
from ..optim_wrapper import MixedPrecisionOptimWrapper


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Raise ``FloatingPointError`` after an iteration whose total loss is NaN or Inf (runs
    before the checkpoint and logger hooks of that iteration)."""

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is None:
            return
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if math.isfinite(value):
            return
        if isinstance(runner.optim_wrapper, MixedPrecisionOptimWrapper):
            return          # skipped and counted by the wrapper (skipped_steps)
        terms = ', '.join(f'{k}={float(v.detach() if isinstance(v, torch.Tensor) else v):.4g}'
                          for k, v in outputs.items() if k != 'loss' and k.startswith('loss'))
        raise FloatingPointError(
            f'iteration {runner.iter + 1}: the loss is {value} ({terms}); training '
            f'stopped before a checkpoint stores the broken weights (work dir '
            f'{runner.work_dir}). Lower the learning rate or check this batch\'s data; '
            f'--amp skips and counts non-finite steps instead of stopping')
