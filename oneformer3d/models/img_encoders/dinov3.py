"""``DINOv3``: timm DINOv3 ViT patch tokens at any input size (frozen)."""
from typing import Optional

from oneformer3d.registry import MODELS
from .dinov2 import DINOv2


@MODELS.register_module()
class DINOv3(DINOv2):
    """DINOv3 (Siméoni et al. 2025) through timm's ``vit_*_patch16_dinov3`` models (Eva with
    rotary position embeddings, 1 class + 4 register tokens, which are dropped), with the
    DINOv2 interface: ``pix`` (B, C, h/16, w/16) last-block tokens after the final norm,
    ``global`` the class token; ImageNet normalisation.

    Default input: the 640×480 frame at its own size (short side 480 -> 480×640, 30×40
    tokens, exactly 4:3).

    Args:
        model_name: e.g. ``vit_small_patch16_dinov3``, ``vit_base_patch16_dinov3``,
            ``vit_large_patch16_dinov3``; a name the installed timm lacks raises ValueError
            listing the DINOv3 models it has.
        pretrained: local weights file; None = random init. Never downloads.
        short_side: input short side, pixels.
    """

    name = 'DINOv3'

    def __init__(self, model_name: str = 'vit_large_patch16_dinov3',
                 pretrained: Optional[str] = None, short_side: int = 480,
                 pixel_shuffle: int = 1):
        super().__init__(model_name, pretrained, short_side, pixel_shuffle)
