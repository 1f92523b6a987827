"""``DINOv2``: timm DINOv2 ViT patch tokens at any input size (frozen)."""
from typing import Optional, Tuple

import torch

from oneformer3d.registry import MODELS
from .base import IMAGENET_MEAN, IMAGENET_STD, FrozenImageEncoder, check_weights_file


@MODELS.register_module()
class DINOv2(FrozenImageEncoder):
    """DINOv2 (Oquab et al. 2023) via timm with ``dynamic_img_size=True`` (position table
    interpolated by timm for the input grid).

    ``pix``: last-block patch tokens after the final norm, (B, C, h/14, w/14) (ViT-B 768,
    ViT-L 1024); ``global``: the normalised class token. Register tokens (``*_reg4_*``
    models) are dropped.

    Args:
        model_name: ``vit_base_patch14_dinov2`` | ``vit_large_patch14_dinov2`` |
            ``vit_small_patch14_dinov2`` | ``*_reg4_dinov2``.
        pretrained: local weights file (``.safetensors``/``.pth``) passed to timm as
            ``pretrained_cfg_overlay=dict(file=...)``; None = random init. Never downloads.
        short_side: input short side (default 448: 640×480 -> 448×602, 32×43 tokens).
    """

    name = 'DINOv2'

    def __init__(self, model_name: str = 'vit_base_patch14_dinov2',
                 pretrained: Optional[str] = None, short_side: int = 448,
                 pixel_shuffle: int = 1):
        import timm
        check_weights_file(pretrained, f'timm {model_name}')
        kwargs = dict(pretrained=pretrained is not None, num_classes=0, dynamic_img_size=True)
        if pretrained is not None:
            kwargs['pretrained_cfg_overlay'] = dict(file=pretrained)
        model = timm.create_model(model_name, **kwargs)
        patch = model.patch_embed.patch_size[0]
        super().__init__(short_side, patch, IMAGENET_MEAN, IMAGENET_STD, pixel_shuffle,
                         'final')
        self.model_name = model_name
        self.model = model
        self.freeze()

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        tokens = self.model.forward_features(x)             # (B, prefix + h*w, C), normed
        b, _, h, w = x.shape
        p = self.multiple
        prefix = self.model.num_prefix_tokens
        grid = tokens[:, prefix:].transpose(1, 2).reshape(b, tokens.shape[-1], h // p, w // p)
        return grid, tokens[:, 0]
