"""``ClipFeatureFallbackHook``: count frames whose stored 2D features were missing."""
from mmengine.hooks import Hook

from oneformer3d.registry import HOOKS


def _count_missing(data_batch) -> tuple:
    missing, frames = 0, 0
    for sample in (data_batch or {}).get('data_samples', []):
        flag = sample.metainfo.get('clip_missing')
        if flag is None:
            continue
        flags = flag if isinstance(flag, (list, tuple)) else [flag]
        missing += sum(bool(f) for f in flags)
        frames += len(flags)
    return missing, frames


@HOOKS.register_module()
class ClipFeatureFallbackHook(Hook):
    """Count, per epoch and mode, the frames :class:`LoadClipFeature` marked for online
    computation (their ``.pt`` was missing), from the ``clip_missing`` flags in each batch —
    so the count is right with any number of dataloader workers. Logs one line per epoch
    (``... 3 of 120 frames had no stored 2D features (computed online)``) and publishes
    ``<mode>/clip_fallback`` to the message hub; rank-local under DDP."""

    priority = 'LOW'

    def __init__(self):
        self.counts = {}

    def _add(self, mode, data_batch):
        m, f = _count_missing(data_batch)
        old = self.counts.get(mode, (0, 0))
        self.counts[mode] = (old[0] + m, old[1] + f)

    def _report(self, runner, mode):
        missing, frames = self.counts.pop(mode, (0, 0))
        if frames:
            runner.message_hub.update_scalar(f'{mode}/clip_fallback', missing)
            runner.logger.info(f'{mode} epoch: {missing} of {frames} frames had no stored 2D '
                               f'features (computed online)')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._add('train', data_batch)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._add('val', data_batch)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._add('test', data_batch)

    def after_train_epoch(self, runner):
        self._report(runner, 'train')

    def after_train(self, runner):
        self._report(runner, 'train')       # iteration-based loops end without an epoch

    def after_val_epoch(self, runner, metrics=None):
        self._report(runner, 'val')

    def after_test_epoch(self, runner, metrics=None):
        self._report(runner, 'test')
