"""RGB <-> point-cloud alignment (robot manipulation): adapters, fusion, pooling, projector,
the teacher point encoder and the model."""
from .adapter import Adapter
from .moe_fusion import MoEFusion
from .point_mlp_encoder import PointMLPEncoder
from .point_projector import PointProjector
from .rgb_point_aligner import RGBPointAligner
from .temporal_pooling import TemporalGatedPooling
from .weighted_fusion import WeightedFusion

__all__ = ['Adapter', 'MoEFusion', 'PointMLPEncoder', 'PointProjector', 'RGBPointAligner',
           'TemporalGatedPooling', 'WeightedFusion']
