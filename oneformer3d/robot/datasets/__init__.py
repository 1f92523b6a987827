"""RLBench episodes for the robot stack: feature packs, the alignment and action datasets."""
from .feature_packs import FeaturePack, open_packs
from .rlbench_action_dataset import RLBenchActionDataset
from .rlbench_align_dataset import RLBenchAlignDataset
from .transforms import ProprioNoise

__all__ = ['FeaturePack', 'RLBenchActionDataset', 'RLBenchAlignDataset', 'ProprioNoise',
           'open_packs']
