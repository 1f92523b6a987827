from .check_invalid_loss_hook import CheckInvalidLossHook
from .data_fallback_hook import DataFallbackHook
from .metric_run_info_hook import MetricRunInfoHook
from .partial_load_hook import PartialLoadHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .training_curves_hook import TrainingCurvesHook

__all__ = ['CheckInvalidLossHook', 'DataFallbackHook', 'MetricRunInfoHook', 'PartialLoadHook', 'SafeCheckpointHook',
           'TrainingCurvesHook']
