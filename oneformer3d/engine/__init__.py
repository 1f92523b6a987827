from .hooks import (DataFallbackHook, MetricRunInfoHook, SafeCheckpointHook,
                    TrainingCurvesHook)
from .optim_wrapper import MixedPrecisionOptimWrapper
from .runner import Runner

__all__ = ['DataFallbackHook', 'MetricRunInfoHook', 'MixedPrecisionOptimWrapper',
           'Runner', 'SafeCheckpointHook', 'TrainingCurvesHook']
