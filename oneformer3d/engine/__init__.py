from .hooks import (CheckInvalidLossHook, DataFallbackHook, MetricRunInfoHook, PartialLoadHook, SafeCheckpointHook,
                    TrainingCurvesHook)
from .optim_wrapper import MixedPrecisionOptimWrapper
from .runner import Runner

__all__ = ['CheckInvalidLossHook', 'DataFallbackHook', 'MetricRunInfoHook', 'MixedPrecisionOptimWrapper',
           'PartialLoadHook', 'Runner', 'SafeCheckpointHook', 'TrainingCurvesHook']
