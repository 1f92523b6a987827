"""``OpenClipResNet``: open_clip modified ResNet (default RN50) stage features (frozen)."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS
from .base import (CLIP_MEAN, CLIP_STD, FrozenImageEncoder, check_weights_file,
                   reading_weights)

STAGE_STRIDE = dict(layer1=4, layer2=8, layer3=16, layer4=32)


@MODELS.register_module()
class OpenClipResNet(FrozenImageEncoder):
    """CLIP ResNet stage output as the dense map.

    Layers ``'layer1'..'layer4'`` (RN50: 256/512/1024/2048 channels at stride 4/8/16/32 of the
    network input). ``global``: CLIP's attention pool applied to ``layer4`` average-pooled to
    the pool's native grid (7×7 for 224 input), i.e. the image embedding (RN50: 1024-d) of the
    whole resized image without re-tabulating the pool's position table.

    Args:
        model_name: ``RN50`` | ``RN101`` | ``RN50x4`` ...; pretrained: local CLIP weights file
            (never downloads); layer: stage; short_side: input short side; pixel_shuffle: see
            :class:`FrozenImageEncoder` (default 2: RN50 layer3 1024×h/16 -> 256×h/8).
    """

    name = 'OpenClipResNet'

    def __init__(self, model_name: str = 'RN50', pretrained: Optional[str] = None,
                 layer: str = 'layer3', short_side: int = 480, pixel_shuffle: int = 2):
        import open_clip
        if layer not in STAGE_STRIDE:
            raise ValueError(f'OpenClipResNet layer must be one of {list(STAGE_STRIDE)}, '
                             f'got {layer!r}')
        check_weights_file(pretrained, f'open_clip {model_name}')
        with reading_weights(pretrained, f'open_clip {model_name}'):
            visual = open_clip.create_model(model_name, pretrained=pretrained).visual
        super().__init__(short_side, 32, CLIP_MEAN, CLIP_STD, pixel_shuffle, layer)
        self.model_name = model_name
        self.visual = visual
        self.freeze()

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        v = self.visual
        feats = {}
        y = v.stem(x)
        for name in ('layer1', 'layer2', 'layer3', 'layer4'):
            y = getattr(v, name)(y)
            feats[name] = y
        grid = int(round((v.attnpool.positional_embedding.shape[0] - 1) ** 0.5))
        glob = v.attnpool(F.adaptive_avg_pool2d(feats['layer4'], grid))
        return feats[self.layer], glob
