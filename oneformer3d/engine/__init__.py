from .hooks import MetricRunInfoHook, SafeCheckpointHook
from .optim_wrapper import MixedPrecisionOptimWrapper

__all__ = ['MetricRunInfoHook', 'MixedPrecisionOptimWrapper', 'SafeCheckpointHook']
