from . import transforms  # noqa: F401  (registers the transforms)
from .scannet_dataset import ScanNet200SegDataset, ScanNetSegDataset

__all__ = ['ScanNet200SegDataset', 'ScanNetSegDataset']
