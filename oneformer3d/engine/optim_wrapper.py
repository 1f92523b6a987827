"""Mixed precision for every trainer in the project: bf16 autocast on CPU, fp16 with loss
scaling on GPU; steps with non-finite gradients are skipped and counted."""
from contextlib import contextmanager

import torch
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper

from oneformer3d.registry import OPTIM_WRAPPERS
from oneformer3d.utils.compat import amp_dtype_for


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(OptimWrapper):
    """``OptimWrapper`` with autocast (mmengine's ``AmpOptimWrapper`` asserts a GPU).

    Args:
        dtype: ``'bfloat16'``/``'float16'``/None (None: bf16 on CPU, fp16 on CUDA).
        device_type: ``'cpu'``/``'cuda'``/None (None: CUDA when available).
        init_scale: fp16 only: the loss scaler's initial scale (torch's default 2^16).
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``, ...).

    ``skipped_steps`` counts optimizer steps skipped because a gradient was NaN/Inf.
    """

    def __init__(self, dtype=None, device_type=None, init_scale: float = 2.0 ** 16, **kwargs):
        super().__init__(**kwargs)
        self.device_type = device_type or ('cuda' if torch.cuda.is_available() else 'cpu')
        self.dtype = getattr(torch, dtype) if isinstance(dtype, str) else \
            (dtype or amp_dtype_for(self.device_type))
        self.scaler = torch.amp.GradScaler(self.device_type, init_scale=init_scale) \
            if self.dtype == torch.float16 else None
        self.skipped_steps = 0

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward(**kwargs)
        self._inner_count += 1

    def _grads_finite(self) -> bool:
        """One reduction over every gradient (their total norm) and one host sync, instead
        of a ``torch.isfinite(...).all()`` sync per tensor."""
        grads = [p.grad for group in self.optimizer.param_groups for p in group['params']
                 if p.grad is not None]
        if not grads:
            return True
        return bool(torch.isfinite(torch.nn.utils.get_total_norm(grads, norm_type=2.0)))

    def step(self, **kwargs) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if not self._grads_finite():
            self.skipped_steps += 1
            MMLogger.get_current_instance().warning(
                f'non-finite gradients: optimizer step skipped ({self.skipped_steps} so far)')
            self.optimizer.zero_grad()
            if self.scaler is not None:
                self.scaler.update()
            return
        if self.clip_grad_kwargs:
            self._clip_grad()
        if self.scaler is not None:
            self.scaler.step(self.optimizer, **kwargs)
            self.scaler.update()
        else:
            self.optimizer.step(**kwargs)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state['skipped_steps'] = self.skipped_steps
        if self.scaler is not None:
            state['loss_scaler'] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self.skipped_steps = state_dict.pop('skipped_steps', 0)
        scaler = state_dict.pop('loss_scaler', None)
        if scaler is not None and self.scaler is not None:
            self.scaler.load_state_dict(scaler)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(self.device_type, dtype=self.dtype):
            yield
