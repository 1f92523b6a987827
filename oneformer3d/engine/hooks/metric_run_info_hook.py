"""Tell metrics which run they evaluate (work_dir, config, checkpoint) for their CSV rows."""
from mmengine.hooks import Hook

from oneformer3d.registry import HOOKS


@HOOKS.register_module()
class MetricRunInfoHook(Hook):
    """Before validation/test, call ``set_run_info`` on every metric that has it: work dir,
    config, checkpoint and ``load`` (``'full'`` / ``'partial'`` from the runner's last load
    report, ``''`` when nothing was loaded)."""

    def _set(self, runner, evaluator_name: str, checkpoint: str) -> None:
        loop = getattr(runner, f'_{evaluator_name}_loop', None)
        report = getattr(runner, 'load_report', None)
        load = '' if report is None else (
            'partial' if report.missing or report.unexpected or report.mismatched else 'full')
        evaluator = getattr(loop, 'evaluator', None)
        for metric in getattr(evaluator, 'metrics', []):
            if hasattr(metric, 'set_run_info'):
                metric.set_run_info(work_dir=runner.work_dir,
                                    config=getattr(runner.cfg, 'filename', None) or '',
                                    checkpoint=checkpoint, load=load)

    def before_val(self, runner) -> None:
        self._set(runner, 'val', f'iter_{runner.iter}')

    def before_test(self, runner) -> None:
        self._set(runner, 'test', str(runner.cfg.get('load_from') or ''))
