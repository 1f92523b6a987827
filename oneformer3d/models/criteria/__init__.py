from .instance_criterion import InstanceCriterion, mask_iou
from .merge_criterion import MergeCriterion
from .semantic_criterion import SemanticCriterion

__all__ = ['InstanceCriterion', 'MergeCriterion', 'SemanticCriterion', 'mask_iou']
