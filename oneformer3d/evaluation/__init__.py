from . import functional
from .metrics import InstanceSegMetric

__all__ = ['InstanceSegMetric', 'functional']
