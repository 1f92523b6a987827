"""``DataFallbackHook``: count, where a user sees it, every documented data fallback."""
from mmengine.hooks import Hook

from oneformer3d.registry import HOOKS

# metainfo flag -> (message-hub scalar, what a True flag means). Each flag is a bool per
# sample or a list of bools (one per frame), set by the data pipeline.
FALLBACKS = {
    'clip_missing': ('clip_fallback', 'frames had no stored 2D features (computed online)'),
    'frame_padded': ('padded_frames', 'frames repeat the last frame of a sequence shorter than '
                                      'num_frames'),
    'pairing_fallback': ('pairing_fallback', 'samples used a pairing fallback (an encoder pack '
                                             'lacked the step)'),
}


def count_flags(data_batch, flag: str) -> tuple:
    """``(flagged, total)`` over the batch's samples for one metainfo ``flag``."""
    flagged, total = 0, 0
    samples = (data_batch or {}).get('data_samples', [])
    if isinstance(samples, dict):        # plain-dict samples collated into lists per key
        values = samples.get(flag)
        if values is None:
            return 0, 0
        values = values.tolist() if hasattr(values, 'tolist') else list(values)
        return sum(bool(v) for v in values), len(values)
    for sample in samples:
        meta = sample.metainfo if hasattr(sample, 'metainfo') else sample
        value = meta.get(flag)
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        flagged += sum(bool(v) for v in values)
        total += len(values)
    return flagged, total


@HOOKS.register_module()
class DataFallbackHook(Hook):
    """Count, per epoch and mode, the samples / frames the data pipeline served through a
    documented fallback (:data:`FALLBACKS`: 2D features computed online because the stored
    ``.pt`` was missing — :class:`LoadClipFeature`; frames repeated to pad a short sequence —
    :class:`LoadAdjacentDataFromFile`; a feature pack lacking a step —
    :class:`RLBenchAlignDataset`), from the flags packed into each batch — so the
    count is right with any number of dataloader workers. Logs one line per fallback and
    epoch (``train epoch: 3 of 120 frames had no stored 2D features (computed online)``) and
    publishes ``<mode>/<scalar>`` to the message hub; rank-local under DDP. Silent when a
    pipeline sets no flag."""

    priority = 'LOW'

    def __init__(self):
        self.counts = {}

    def _add(self, mode, data_batch):
        for flag in FALLBACKS:
            n, total = count_flags(data_batch, flag)
            old = self.counts.get((mode, flag), (0, 0))
            self.counts[(mode, flag)] = (old[0] + n, old[1] + total)

    def _report(self, runner, mode):
        for flag, (scalar, meaning) in FALLBACKS.items():
            n, total = self.counts.pop((mode, flag), (0, 0))
            if total:
                runner.message_hub.update_scalar(f'{mode}/{scalar}', n)
                runner.logger.info(f'{mode} epoch: {n} of {total} {meaning}')

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
