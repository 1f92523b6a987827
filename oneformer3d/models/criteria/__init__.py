from .info_nce import ClipInfoNCE, MoCoQueue, PointPatchInfoNCE, normalized_mse
from .instance_criterion import InstanceCriterion, mask_iou
from .merge_criterion import MergeCriterion
from .semantic_criterion import SemanticCriterion

__all__ = ['ClipInfoNCE', 'InstanceCriterion', 'MergeCriterion', 'MoCoQueue',
           'PointPatchInfoNCE', 'SemanticCriterion', 'mask_iou', 'normalized_mse']
