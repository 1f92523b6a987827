from .instance_criterion import InstanceCriterion, SemanticCriterion, mask_iou

__all__ = ['InstanceCriterion', 'SemanticCriterion', 'mask_iou']
