"""``DINOv2``: timm DINOv2 ViT patch tokens at any input size (frozen)."""
from typing import Optional, Tuple

import torch

from oneformer3d.registry import MODELS
from .base import (IMAGENET_MEAN, IMAGENET_STD, FrozenImageEncoder, check_weights_file,
                   reading_weights)


def create_timm_vit(model_name: str, pretrained: Optional[str], family: str):
    """A timm ViT by name with ``dynamic_img_size=True``, from a local weights file or random.

    Raises:
        ValueError: ``model_name`` is not a model of the installed timm (naming the timm
            version and the ``family`` models it has).
        FileNotFoundError: ``pretrained`` is given but is not a file.
    """
    import timm
    if not timm.is_model(model_name):
        have = timm.list_models(f'*{family.lower()}*')
        raise ValueError(f'{family}: timm {timm.__version__} has no model {model_name!r} '
                         f'(its {family} models: {have or "none"})')
    check_weights_file(pretrained, f'timm {model_name}')
    kwargs = dict(pretrained=pretrained is not None, num_classes=0, dynamic_img_size=True)
    if pretrained is not None:
        kwargs['pretrained_cfg_overlay'] = dict(file=pretrained)
    with reading_weights(pretrained, f'timm {model_name}'):
        return timm.create_model(model_name, **kwargs)


@MODELS.register_module()
class DINOv2(FrozenImageEncoder):
    """DINOv2 (Oquab et al. 2023) via timm with ``dynamic_img_size=True`` (position table
    interpolated by timm for the input grid).

    ``pix``: last-block patch tokens after the final norm, (B, C, h/p, w/p) (ViT-S 384,
    ViT-B 768, ViT-L 1024); ``global``: the normalised class token. Register tokens
    (``*_reg4_*`` models) are dropped.

    Defaults are the DITR route's (issue "DINOv2 in the 3D U-Net"): ViT-L/14 on the whole
    640×480 ScanNet frame, scaled to short side 462 -> 462×616, exactly 4:3 (33×44 tokens; no
    crop, no stretch). The actual input size is in the stored ``meta``, and the projection
    uses its stride (640 / 44 = 14.55 px per cell).

    Args:
        model_name: ``vit_large_patch14_dinov2`` | ``vit_base_patch14_dinov2`` |
            ``vit_small_patch14_dinov2`` | ``*_reg4_dinov2``.
        pretrained: local weights file (``.safetensors``/``.pth``) passed to timm as
            ``pretrained_cfg_overlay=dict(file=...)``; None = random init. Never downloads.
        short_side: input short side, pixels (sides rounded to multiples of the patch).
    """

    name = 'DINOv2'

    def __init__(self, model_name: str = 'vit_large_patch14_dinov2',
                 pretrained: Optional[str] = None, short_side: int = 462,
                 pixel_shuffle: int = 1):
        model = create_timm_vit(model_name, pretrained, self.name)
        patch = model.patch_embed.patch_size[0]
        super().__init__(short_side, patch, IMAGENET_MEAN, IMAGENET_STD, pixel_shuffle,
                         'final')
        self.model_name = model_name
        self.model = model
        self.freeze()

    def trainable_blocks(self, n: int):
        """The last ``n`` transformer blocks and the final norm."""
        blocks = list(self.model.blocks)
        if not 0 < n <= len(blocks):
            raise ValueError(f'{self.model_name}: freeze_blocks={n} needs 1..{len(blocks)}')
        return blocks[-n:] + [self.model.norm]

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        tokens = self.model.forward_features(x)             # (B, prefix + h*w, C), normed
        b, _, h, w = x.shape
        p = self.multiple
        prefix = self.model.num_prefix_tokens
        grid = tokens[:, prefix:].transpose(1, 2).reshape(b, tokens.shape[-1], h // p, w // p)
        return grid, tokens[:, 0]
