from .coverage import coverage_from_matches
from .instance_seg_eval import (OVERLAPS, evaluate_matches, format_instance_table,
                                instance_seg_eval, instance_seg_eval_class_agnostic,
                                match_scene, split_ap, to_class_agnostic)
from .seg_eval import confusion_matrix, iou_from_confusion, seg_eval

__all__ = [
    'OVERLAPS', 'confusion_matrix', 'coverage_from_matches', 'evaluate_matches',
    'format_instance_table', 'instance_seg_eval', 'iou_from_confusion', 'instance_seg_eval_class_agnostic',
    'match_scene', 'seg_eval', 'split_ap', 'to_class_agnostic'
]
