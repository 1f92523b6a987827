"""``TimmStudent``: one small timm image network replacing the RGB teacher (stage 3)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from oneformer3d.registry import MODELS
from oneformer3d.models.img_encoders.base import IMAGENET_MEAN, IMAGENET_STD, check_weights_file


@MODELS.register_module()
class TimmStudent(nn.Module):
    """uint8 frame (B, 3, H, W) -> the teacher's token set (B, E·G², D).

    ImageNet normalisation inside (the exported file takes raw uint8 frames) -> timm backbone
    without head (``global_pool=''``: (B, C, h, w)) -> adaptive average pool to G×G ->
    ``Linear(C, E·D)`` per cell -> tokens ordered encoder-major like the teacher's
    (encoder e's G² cells, then e+1's).

    Args:
        model_name: a timm model, e.g. ``resnet18``, ``mobilenetv3_small_100``.
        pretrained: local weights file (``pretrained_cfg_overlay``), None = random init.
        num_groups: E (the teacher's encoder count). token_grid: G. dim: D.
    """

    def __init__(self, model_name: str = 'resnet18', pretrained: Optional[str] = None,
                 num_groups: int = 3, token_grid: int = 4, dim: int = 128):
        super().__init__()
        import timm
        check_weights_file(pretrained, f'timm {model_name}')
        kwargs = dict(pretrained=pretrained is not None, num_classes=0, global_pool='')
        if pretrained is not None:
            kwargs['pretrained_cfg_overlay'] = dict(file=pretrained)
        self.backbone = timm.create_model(model_name, **kwargs)
        self.groups, self.grid, self.dim = num_groups, token_grid, dim
        self.out = nn.Linear(self.backbone.num_features, num_groups * dim)
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() / 255.0 - self.mean) / self.std
        f = F.adaptive_avg_pool2d(self.backbone.forward_features(x), self.grid)
        b = f.shape[0]
        t = self.out(f.flatten(2).transpose(1, 2))                  # (B, G², E·D)
        t = t.reshape(b, self.grid * self.grid, self.groups, self.dim)
        return t.permute(0, 2, 1, 3).reshape(b, self.groups * self.grid * self.grid, self.dim)
