from .metric_run_info_hook import MetricRunInfoHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = ['MetricRunInfoHook', 'SafeCheckpointHook']
