from . import transforms  # noqa: F401  (registers the transforms)
from .scannet_dataset import (ScanNet200SegDataset, ScanNet200SegMVDataset, ScanNetSegDataset,
                              ScanNetSegMVDataset)

__all__ = ['ScanNet200SegDataset', 'ScanNet200SegMVDataset', 'ScanNetSegDataset',
           'ScanNetSegMVDataset']
