from .hooks import (ClipFeatureFallbackHook, MetricRunInfoHook, SafeCheckpointHook,
                    TrainingCurvesHook)
from .optim_wrapper import MixedPrecisionOptimWrapper

__all__ = ['ClipFeatureFallbackHook', 'MetricRunInfoHook', 'MixedPrecisionOptimWrapper',
           'SafeCheckpointHook', 'TrainingCurvesHook']
