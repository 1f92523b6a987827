from .instance_criterion import InstanceCriterion, mask_iou
from .semantic_criterion import SemanticCriterion

__all__ = ['InstanceCriterion', 'SemanticCriterion', 'mask_iou']
