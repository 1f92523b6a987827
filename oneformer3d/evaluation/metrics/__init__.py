from .action_metric import ActionMetric
from .instance_seg_metric import InstanceSegMetric
from .retrieval_metric import RetrievalMetric, retrieval_recalls

__all__ = ['ActionMetric', 'InstanceSegMetric', 'RetrievalMetric', 'retrieval_recalls']
