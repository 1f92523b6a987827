from .clip_cons_criterion import ClipConsCriterion, match_voxels
from .instance_criterion import InstanceCriterion, mask_iou
from .semantic_criterion import SemanticCriterion

__all__ = ['ClipConsCriterion', 'InstanceCriterion', 'SemanticCriterion', 'mask_iou',
           'match_voxels']
