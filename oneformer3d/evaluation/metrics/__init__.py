from .instance_seg_metric import InstanceSegMetric

__all__ = ['InstanceSegMetric']
