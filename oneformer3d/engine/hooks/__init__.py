from .clip_fallback_hook import ClipFeatureFallbackHook
from .metric_run_info_hook import MetricRunInfoHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = ['ClipFeatureFallbackHook', 'MetricRunInfoHook', 'SafeCheckpointHook']
