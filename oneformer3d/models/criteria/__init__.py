from .clip_cons_criterion import ClipConsCriterion, match_voxels
from .esam_merge_criterion import ESAMMergeCriterion
from .instance_criterion import InstanceCriterion, mask_iou
from .merge_criterion import MergeCriterion
from .semantic_criterion import SemanticCriterion

__all__ = ['ClipConsCriterion', 'ESAMMergeCriterion', 'InstanceCriterion', 'MergeCriterion',
           'SemanticCriterion', 'mask_iou', 'match_voxels']
