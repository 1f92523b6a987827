"""``PartialLoadHook``: load part of a checkpoint into part of the model before training."""
import fnmatch
from typing import Dict, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from oneformer3d.registry import HOOKS
from oneformer3d.utils import load_local_checkpoint
from oneformer3d.utils.load_report import checkpoint_state_dict, load_state_dict_checked


@HOOKS.register_module()
class PartialLoadHook(Hook):
    """Copy a subset of a checkpoint's tensors into the model, with key prefixes mapped.

    Runs in ``before_train`` (after the Runner's ``load_from``, so it wins over it; skipped
    when training resumes, ``runner.iter > 0``). Typical use: a BiFusion model takes the 3D
    U-Net of a 3D(+Tiny-SA) checkpoint::

        dict(type='PartialLoadHook', checkpoint='work_dirs/ESAM_online_3dtsa/iter_60.pth',
             prefix_map={'backbone.': 'bi_encoder.backbone3d.'})

    Keys are selected by ``include`` / ``exclude`` (``fnmatch`` patterns on the checkpoint's
    key; default: every key starting with a ``prefix_map`` source), then renamed by the
    first matching prefix. The checkpoint is read with ``weights_only=True``; under DDP the
    weights go into ``runner.model.module``.

    Args:
        checkpoint: local file (mmengine checkpoint, ``{'model': ...}`` or a plain state dict).
        prefix_map: ``{checkpoint prefix: model prefix}``; keys matching no source prefix
            are dropped unless ``include`` selects them (then loaded under their own name).
        include: patterns a key must match (None = the ``prefix_map`` sources).
        exclude: patterns that drop a key.
        on_mismatch: ``'skip'`` (report shape-mismatched keys, load the rest) or ``'error'``.
        max_missing_fraction: of the *targeted* model keys (those under the mapped
            prefixes, less those an ``exclude`` pattern names: left out on purpose) allowed
            to stay missing (default 1.0: report only).

    Raises:
        ValueError: with the report, naming the file, when no tensor loads, when a shape
            mismatches under ``on_mismatch='error'``, or above ``max_missing_fraction``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, checkpoint: str, prefix_map: Optional[Dict[str, str]] = None,
                 include: Optional[Sequence[str]] = None, exclude: Sequence[str] = (),
                 on_mismatch: str = 'skip', max_missing_fraction: float = 1.0):
        if on_mismatch not in ('skip', 'error'):
            raise ValueError(f"PartialLoadHook on_mismatch={on_mismatch!r}: 'skip' or 'error'")
        self.checkpoint = checkpoint
        self.prefix_map = dict(prefix_map or {})
        self.include = list(include) if include is not None else \
            [f'{src}*' for src in self.prefix_map]
        self.exclude = list(exclude)
        self.on_mismatch = on_mismatch
        self.max_missing_fraction = max_missing_fraction
        self.report = None

    def map_keys(self, state: dict) -> dict:
        """Selected checkpoint keys renamed into the model's key space."""
        out = {}
        for key, value in state.items():
            if not any(fnmatch.fnmatchcase(key, p) for p in self.include):
                continue
            if any(fnmatch.fnmatchcase(key, p) for p in self.exclude):
                continue
            for src, dst in self.prefix_map.items():
                if key.startswith(src):
                    key = dst + key[len(src):]
                    break
            out[key] = value
        return out

    def load(self, model, logger=None):
        """Load into ``model`` (unwrapped when DDP-wrapped) and return the checked report
        (``missing`` lists only model keys under the targeted prefixes)."""
        model = model.module if is_model_wrapper(model) else model
        state = checkpoint_state_dict(load_local_checkpoint(self.checkpoint,
                                                            map_location='cpu'),
                                      self.checkpoint)
        mapped = self.map_keys(state)
        report = load_state_dict_checked(model, mapped, f'PartialLoadHook {self.checkpoint}')
        targets = tuple(self.prefix_map.values()) or tuple(mapped)
        report.missing = [k for k in report.missing if k.startswith(targets)
                          and not any(fnmatch.fnmatchcase(k, p) for p in self.exclude)]
        if logger is not None:
            logger.info(report.summary())
        if self.on_mismatch == 'error' and report.mismatched:
            raise ValueError(f'PartialLoadHook {self.checkpoint}: shape-mismatched keys with '
                             f"on_mismatch='error'\n{report.summary(max_keys=20)}")
        self.report = report.check(max_missing_fraction=self.max_missing_fraction, hint=(
            'PartialLoadHook: check prefix_map / include against the checkpoint\'s keys'))
        return self.report

    def before_train(self, runner) -> None:
        if runner.iter > 0:
            runner.logger.info(f'PartialLoadHook: resumed at iteration {runner.iter}; '
                               f'{self.checkpoint} not loaded')
            return
        self.load(runner.model, runner.logger)
