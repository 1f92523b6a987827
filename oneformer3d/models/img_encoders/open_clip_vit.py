"""``OpenClipViT``: open_clip ViT image tower as a dense feature extractor (frozen)."""
from typing import Optional, Tuple

import torch

from oneformer3d.registry import MODELS
from .base import (CLIP_MEAN, CLIP_STD, FrozenImageEncoder, check_weights_file,
                   interpolate_pos_embed, reading_weights)


@MODELS.register_module()
class OpenClipViT(FrozenImageEncoder):
    """open_clip ViT (default ViT-B/16) patch features at any input size.

    Layers:
        ``'conv1'``: the patch embedding (``visual.conv1``), (B, width, h/16, w/16) — no
        position information, cheap. ``'final'``: the last block's grid tokens after
        ``ln_post`` (width channels), with the square position table resized bicubically to
        the input grid (as for dense CLIP features in OpenScene/LERF-style pipelines).
    ``global``: the class token after ``ln_post`` and ``proj`` (the CLIP image embedding of the
    resized full image, e.g. 512-d), for both layers. With the default ``pixel_shuffle=2`` the
    stored map is 192×h/8×w/8 for ViT-B/16.

    Args:
        model_name: an open_clip ViT name (``ViT-B-16``, ``ViT-S-16``, ...).
        pretrained: local weights file for ``open_clip.create_model`` (the full CLIP state
            dict); None = random init (tests). Never downloads.
        layer: ``'final'`` | ``'conv1'``.
        short_side: network input short side (multiple of the patch size after rounding).

    Raises:
        FileNotFoundError: missing weights file. NotImplementedError: ViT variants with
        attention pooling (CoCa) — their token path differs.
    """

    name = 'OpenClipViT'

    def __init__(self, model_name: str = 'ViT-B-16', pretrained: Optional[str] = None,
                 layer: str = 'final', short_side: int = 480, pixel_shuffle: int = 2):
        import open_clip
        if layer not in ('final', 'conv1'):
            raise ValueError(f"OpenClipViT layer must be 'final' or 'conv1', got {layer!r}")
        check_weights_file(pretrained, f'open_clip {model_name}')
        with reading_weights(pretrained, f'open_clip {model_name}'):
            model = open_clip.create_model(model_name, pretrained=pretrained)
        visual = model.visual
        if getattr(visual, 'attn_pool', None) is not None:
            raise NotImplementedError(f'{model_name}: attention-pooled ViT towers are not '
                                      f'supported')
        patch = visual.conv1.kernel_size[0]
        super().__init__(short_side, patch, CLIP_MEAN, CLIP_STD, pixel_shuffle, layer)
        self.model_name = model_name
        self.visual = visual
        self.freeze()

    def trainable_blocks(self, n: int):
        """The last ``n`` transformer blocks and ``ln_post`` (the ``'final'`` layer's path)."""
        blocks = list(self.visual.transformer.resblocks)
        if not 0 < n <= len(blocks) or self.layer != 'final':
            raise ValueError(f'{self.model_name}: freeze_blocks={n} needs 1..{len(blocks)} and '
                             f"layer='final'")
        return blocks[-n:] + [self.visual.ln_post]

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        v = self.visual
        grid = v.conv1(x)                                   # (B, width, h, w)
        b, c, h, w = grid.shape
        tokens = grid.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(tokens.dtype).expand(b, 1, c)
        tokens = torch.cat([cls, tokens], dim=1)
        tokens = tokens + interpolate_pos_embed(v.positional_embedding, (h, w)).to(tokens.dtype)
        tokens = v.transformer(v.ln_pre(tokens))            # batch-first in open_clip >= 2.2x
        tokens = v.ln_post(tokens)
        glob = tokens[:, 0] @ v.proj if v.proj is not None else tokens[:, 0]
        if self.layer == 'conv1':
            return grid, glob
        return tokens[:, 1:].transpose(1, 2).reshape(b, c, h, w), glob
