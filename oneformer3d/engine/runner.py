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

Two ``load_policy`` entries shape what ``load_from`` brings before the check (a fine-tuning
row whose model is its parent's plus a module, :func:`load_into_model`):

* ``prefix_map={'backbone.': 'bi_encoder.backbone3d.'}``: checkpoint key prefixes renamed
  (a BiFusion model takes its parent's U-Net where its own sits);
* ``zero_pad_keys=['backbone.conv0p1s1.*']``: a checkpoint tensor smaller than the model's
  in some dimensions is copied into the leading slice and the rest set to zero (a stem with
  new input channels starts as the parent's: the new channels contribute nothing).

Every run gets a :class:`~oneformer3d.engine.hooks.CheckInvalidLossHook` (a non-finite loss
stops training naming the iteration), listed in the config or not, and ``train()`` holds the
work dir's run lock. The report of the last
load is kept as ``runner.load_report`` (``MetricRunInfoHook`` marks
metrics rows of partial loads). Checkpoints are written to ``<name>.tmp`` and renamed, so a run
killed during a save never leaves a truncated ``iter_N.pth``.
"""
import fnmatch
import os
import os.path as osp
import re
from typing import Dict, Optional, Sequence

import torch

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner as MMEngineRunner
from mmengine.runner.checkpoint import _load_checkpoint

from oneformer3d.registry import RUNNERS
from oneformer3d.utils.load_report import checkpoint_state_dict, load_state_dict_checked
from .run_links import resolve_run_links
from .split_check import check_config_splits
from .work_dir_lock import WorkDirLock

DEFAULT_LOAD_POLICY = dict(strict=False, max_missing_fraction=0.5)
KEY_RULES = ('prefix_map', 'zero_pad_keys')     # load_policy entries that are not check()'s


def zero_pad(value: torch.Tensor, shape: Sequence[int], key: str,
             source: str) -> torch.Tensor:
    """``value`` copied into the leading slice of a zero tensor of ``shape``.

    Raises:
        ValueError: naming ``source`` and ``key`` when the ranks differ or ``value`` is larger
            than ``shape`` in some dimension (padding cannot shrink a tensor).
    """
    if value.dim() != len(shape) or any(a > b for a, b in zip(value.shape, shape)):
        raise ValueError(f'{source}: {key} {tuple(value.shape)} cannot be zero-padded to the '
                         f"model's {tuple(shape)} (zero_pad_keys grows dimensions only)")
    out = value.new_zeros(shape)
    out[tuple(slice(0, n) for n in value.shape)] = value
    return out


def load_into_model(model, state: Dict[str, torch.Tensor], source: str,
                    prefix_map: Optional[Dict[str, str]] = None,
                    zero_pad_keys: Sequence[str] = ()):
    """Load ``state`` into ``model`` with the key rules of a ``load_policy``; returns the
    :class:`~oneformer3d.utils.load_report.LoadReport` (not yet checked).

    ``prefix_map``: the first matching ``{checkpoint prefix: model prefix}`` renames a key;
    other keys keep their names. ``zero_pad_keys``: ``fnmatch`` patterns on the (renamed)
    keys whose tensors are zero-padded to the model's shape (:func:`zero_pad`); a pattern that
    matches no checkpoint key raises ``ValueError`` naming ``source`` (a typo must not
    silently leave the stem random).
    """
    renamed = {}
    for key, value in state.items():
        for src, dst in (prefix_map or {}).items():
            if key.startswith(src):
                key = dst + key[len(src):]
                break
        renamed[key] = value
    own = model.state_dict()
    for pattern in zero_pad_keys:
        hits = [k for k in renamed if fnmatch.fnmatchcase(k, pattern)]
        if not hits:
            raise ValueError(f'{source}: load_policy zero_pad_keys pattern {pattern!r} '
                             f'matches no key of the checkpoint')
        for k in hits:
            if k in own and tuple(own[k].shape) != tuple(renamed[k].shape):
                renamed[k] = zero_pad(renamed[k], own[k].shape, k, source)
    return load_state_dict_checked(model, renamed, source)


@RUNNERS.register_module()
class Runner(MMEngineRunner):
    """See the module docstring. Build it with ``Runner.from_cfg(cfg)``; the config's
    ``load_policy`` (dict of :meth:`LoadReport.check` arguments) sets the policy."""

    load_report = None
    _timestamps = set()      # the run timestamps this process has used

    def setup_env(self, env_cfg) -> None:
        """mmengine's, then a timestamp this process has not used yet (``_1``, ``_2``, ...
        appended): mmengine names the logger, message hub and visualizer instances and the log
        dir ``<config>_<timestamp>`` to the second, so a second Runner built within the same
        second (tests, tools training several runs in one process) would get the first one's
        visualizer — writing into the first run's folder — and its logger. Every rank builds
        the same Runners in the same order, so the ranks still agree."""
        super().setup_env(env_cfg)
        base, n = self._timestamp, 0
        while self._timestamp in Runner._timestamps:
            n += 1
            self._timestamp = f'{base}_{n}'
        Runner._timestamps.add(self._timestamp)

    @classmethod
    def from_cfg(cls, cfg) -> 'Runner':
        # checkpoints named by run (load_from_run, partial_load) become load_from and
        # PartialLoadHooks before mmengine reads them (run_links.py)
        resolve_run_links(cfg)
        check_config_splits(cfg)      # train vs held-out lists (split_check.py)
        runner = super().from_cfg(cfg)
        runner.load_policy = dict(DEFAULT_LOAD_POLICY, **(cfg.get('load_policy') or {}))
        if not any(type(h).__name__ == 'CheckInvalidLossHook' for h in runner.hooks):
            runner.register_hook(dict(type='CheckInvalidLossHook'))   # in every run
        return runner

    def train(self):
        """mmengine's training loop holding ``<work_dir>/run.lock`` (rank 0, for all ranks):
        one training run per work dir, whichever tool starts it (:mod:`.work_dir_lock`)."""
        from mmengine.dist import get_rank
        lock = WorkDirLock(self.work_dir) if get_rank() == 0 else None
        if lock is not None:
            lock.acquire()
        try:
            return super().train()
        finally:
            if lock is not None:
                lock.release()

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
        policy = dict(getattr(self, 'load_policy', DEFAULT_LOAD_POLICY))
        rules = {k: policy.pop(k) for k in KEY_RULES if k in policy}
        if strict or getattr(self, '_resuming', False):
            policy['strict'] = True
            rules = {}                    # our own checkpoint of this config: names as saved
        report = load_into_model(model, state, filename, **rules)
        self.logger.info(report.summary())
        report.check(**policy, hint=(
            'the checkpoint does not fit this config (another class count, backbone or model?)'
            '; evaluate it with its own config, or opt in: tools/test.py --allow-partial-load, '
            'or load_policy=dict(max_missing_fraction=...) for training'))
        self.load_report = report
        self._has_loaded = True
        return checkpoint
