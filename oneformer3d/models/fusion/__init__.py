"""2D-3D fusion parts: the BiFusion encoder and its gate, positional encoding and 2D
self-attention; the DINO pyramid injector."""
from .bifusion_encoder import BiFusionEncoder
from .dino_fpn_injector import DINOEarlyInjector, DINOFPNInjector
from .geo_pe import GeoPE
from .lite_fusion_gate import LiteFusionGate
from .residual_fusion_gate import ResidualFusionGate
from .tiny_sa_2d import TinySA2D

__all__ = ['BiFusionEncoder', 'DINOEarlyInjector', 'DINOFPNInjector', 'GeoPE', 'LiteFusionGate',
           'ResidualFusionGate', 'TinySA2D']
