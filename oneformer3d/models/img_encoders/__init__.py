"""Frozen 2D encoders (offline feature extraction, online fallback); registered by name."""
from .base import FrozenImageEncoder, input_size_for
from .dinov2 import DINOv2
from .dinov3 import DINOv3
from .open_clip_resnet import OpenClipResNet
from .open_clip_vit import OpenClipViT
from .rgb_patch import RGBPatchEncoder

__all__ = ['DINOv2', 'DINOv3', 'FrozenImageEncoder', 'OpenClipResNet', 'OpenClipViT', 'RGBPatchEncoder',
           'input_size_for']
