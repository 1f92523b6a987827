"""Make checkpoints written by our runner loadable with ``torch.load(weights_only=True)``."""
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from oneformer3d.registry import HOOKS

_BUFFER_TAG = '__history_buffer__'
_ARRAY_TAG = '__ndarray__'


def _encode(obj):
    """Replace numpy values and ``HistoryBuffer`` objects by tagged tensors/dicts (lossless)."""
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {_BUFFER_TAG: True, 'max_length': int(obj.max_length),
                'log_history': torch.from_numpy(np.asarray(log, dtype=np.float64)),
                'count_history': torch.from_numpy(np.asarray(count, dtype=np.float64))}
    if isinstance(obj, np.ndarray):
        return {_ARRAY_TAG: torch.from_numpy(np.ascontiguousarray(obj))} \
            if obj.dtype != object else obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return type(obj)((k, _encode(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_encode(v) for v in obj)
    return obj


def _decode(obj):
    """Inverse of :func:`_encode`."""
    if isinstance(obj, dict):
        if obj.get(_BUFFER_TAG) is True:
            return HistoryBuffer(obj['log_history'].numpy().tolist(),
                                 obj['count_history'].numpy().tolist(), obj['max_length'])
        if set(obj) == {_ARRAY_TAG}:
            return obj[_ARRAY_TAG].numpy()
        return type(obj)((k, _decode(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_decode(v) for v in obj)
    return obj


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Encode the message hub (``HistoryBuffer``, numpy values) into tensors and plain types
    before a checkpoint is saved, and decode it after one is loaded, so resume works with
    ``weights_only=True`` on torch >= 2.6 (STACK.md §2) without allow-listing ``getattr``.

    Included by ``configs/_base_/default_runtime.py``; the other direction of the fix lives in
    :mod:`oneformer3d.utils.compat`.
    """
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in ('message_hub', 'meta'):
            if key in checkpoint:
                checkpoint[key] = _encode(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in ('message_hub', 'meta'):
            if key in checkpoint:
                checkpoint[key] = _decode(checkpoint[key])
