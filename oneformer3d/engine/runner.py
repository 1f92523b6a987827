"""``Runner``: mmengine's Runner whose checkpoint loading reports and enforces a policy.

mmengine's ``load_checkpoint(strict=False)`` logs missing / unexpected keys and carries on, so
``tools/test.py`` with a checkpoint of another config evaluates random heads and exits 0. Here
every load goes through :func:`oneformer3d.utils.load_report.load_state_dict_checked` and
:meth:`LoadReport.check` with the config's ``load_policy``:

* ``tools/test.py``: ``strict=True`` (every key must match) unless ``--allow-partial-load``;
* ``tools/train.py`` with ``load_from`` (fine-tuning from another model, e.g. the SV checkpoint
  for the online model): not strict, but an error when nothing loads or more than
  ``max_missing_fraction`` (default 0.5) of the model stays at its initialisation;
* ``resume``: strict (our own checkpoints of the same config).

The report of the last load is kept as ``runner.load_report`` (``MetricRunInfoHook`` marks
metrics rows of partial loads). Checkpoints are written to ``<name>.tmp`` and renamed, so a run
killed during a save never leaves a truncated ``iter_N.pth``.
"""
import os
import os.path as osp
import re

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner as MMEngineRunner
from mmengine.runner.checkpoint import _load_checkpoint

from oneformer3d.registry import RUNNERS
from oneformer3d.utils.load_report import checkpoint_state_dict, load_state_dict_checked

DEFAULT_LOAD_POLICY = dict(strict=False, max_missing_fraction=0.5)


@RUNNERS.register_module()
class Runner(MMEngineRunner):
    """See the module docstring. Build it with ``Runner.from_cfg(cfg)``; the config's
    ``load_policy`` (dict of :meth:`LoadReport.check` arguments) sets the policy."""

    load_report = None

    @classmethod
    def from_cfg(cls, cfg) -> 'Runner':
        runner = super().from_cfg(cfg)
        runner.load_policy = dict(DEFAULT_LOAD_POLICY, **(cfg.get('load_policy') or {}))
        return runner

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        """mmengine's save, written to ``filename + '.tmp'`` and renamed (atomic on POSIX)."""
        tmp = f'{filename}.tmp'
        super().save_checkpoint(out_dir, tmp, *args, **kwargs)
        src = osp.join(out_dir, tmp)
        if osp.isfile(src):           # rank 0 only (mmengine saves on the master)
            os.replace(src, osp.join(out_dir, filename))

    def resume(self, filename, resume_optimizer=True, resume_param_scheduler=True,
               map_location='default'):
        self._resuming = True
        try:
            return super().resume(filename, resume_optimizer, resume_param_scheduler,
                                  map_location)
        finally:
            self._resuming = False

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=((r'^module\.', ''),)):
        """Load ``filename`` into the model and check the report against the policy.

        Raises:
            ValueError: with the load report (loaded / missing / unexpected /
                shape-mismatched keys) when the policy is not met.
        """
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        state = checkpoint_state_dict(checkpoint, filename)
        for pattern, repl in revise_keys:
            state = {re.sub(pattern, repl, k): v for k, v in state.items()}
        report = load_state_dict_checked(model, state, filename)
        policy = dict(getattr(self, 'load_policy', DEFAULT_LOAD_POLICY))
        if strict or getattr(self, '_resuming', False):
            policy['strict'] = True
        self.logger.info(report.summary())
        report.check(**policy, hint=(
            'the checkpoint does not fit this config (another class count, backbone or model?)'
            '; evaluate it with its own config, or opt in: tools/test.py --allow-partial-load, '
            'or load_policy=dict(max_missing_fraction=...) for training'))
        self.load_report = report
        self._has_loaded = True
        return checkpoint
