"""``RGBPatchEncoder``: average colour per patch — a weight-free reference encoder."""
from typing import Tuple

import torch
import torch.nn.functional as F

from oneformer3d.registry import MODELS
from .base import FrozenImageEncoder


@MODELS.register_module()
class RGBPatchEncoder(FrozenImageEncoder):
    """0..1 RGB averaged over ``stride × stride`` patches of the input (3 channels).

    No weights: its sampled point features must equal the points' colours, which makes it the
    end-to-end check of projection, stride and sampling conventions (tests, debugging).
    ``global``: the mean colour.

    Args:
        stride: patch size in input pixels; short_side: input short side.
    """

    name = 'RGBPatchEncoder'

    def __init__(self, stride: int = 8, short_side: int = 480):
        super().__init__(short_side, stride, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1, 'rgb')
        self.stride = stride

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pix = F.avg_pool2d(x, self.stride)
        return pix, pix.mean(dim=(2, 3))
