"""Metrics of the robot stack: retrieval (stage 1, route 2) and action errors (stage 2, 3)."""
from .action_metric import ActionMetric
from .retrieval_metric import RetrievalMetric, retrieval_recalls

__all__ = ['ActionMetric', 'RetrievalMetric', 'retrieval_recalls']
