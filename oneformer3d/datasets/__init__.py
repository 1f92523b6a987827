from . import transforms  # noqa: F401  (registers the transforms)
from .rlbench_action_dataset import RLBenchActionDataset
from .rlbench_align_dataset import RLBenchAlignDataset
from .scannet_dataset import (ScanNet200SegDataset, ScanNet200SegMVDataset, ScanNetSegDataset,
                              ScanNetSegMVDataset)

__all__ = ['RLBenchActionDataset', 'RLBenchAlignDataset', 'ScanNet200SegDataset',
           'ScanNet200SegMVDataset',
           'ScanNetSegDataset', 'ScanNetSegMVDataset']
