"""Online multi-view segmentation (ESAM) in one place: the voxel memory on the U-Net's encoder
(``MultilevelMemory``), the merge head and its criteria, the scene-level instance mergers, and
the detector's sequence training and streaming inference (:mod:`.sequence`)."""
from .esam_merge_criterion import ESAMMergeCriterion
from .esam_merger import ESAMOnlineMerger
from .instance_merger import OnlineInstanceMerger
from .merge_criterion import MergeCriterion
from .merge_head import MergeHead
from .multilevel_memory import MultilevelMemory, voxel_keys
from .sequence import (OnlineSession, frame_inputs, loss_sequence, num_frames,
                       predict_sequence, reset_online_state)

__all__ = ['ESAMMergeCriterion', 'ESAMOnlineMerger', 'MergeCriterion', 'MergeHead',
           'MultilevelMemory', 'OnlineInstanceMerger', 'OnlineSession', 'frame_inputs',
           'loss_sequence', 'num_frames', 'predict_sequence', 'reset_online_state',
           'voxel_keys']
