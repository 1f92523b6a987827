from .hooks import (ClipFeatureFallbackHook, MetricRunInfoHook, SafeCheckpointHook,
                    TrainingCurvesHook)
from .optim_wrapper import MixedPrecisionOptimWrapper
from .runner import Runner

__all__ = ['ClipFeatureFallbackHook', 'MetricRunInfoHook', 'MixedPrecisionOptimWrapper',
           'Runner', 'SafeCheckpointHook', 'TrainingCurvesHook']
