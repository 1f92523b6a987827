"""``WeightedFusion``: learned global softmax weights over encoders."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class WeightedFusion(nn.Module):
    """``fused = Σ_e softmax(w)_e · x_e`` with one learnable logit per encoder (init equal).

    ``forward(x (E, …, D)) -> ((…, D), {})``; ``weights()`` -> (E,) current softmax weights.
    """

    def __init__(self, num_encoders: int, dim: int = 256):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_encoders))

    def weights(self) -> torch.Tensor:
        return self.logits.softmax(0)

    def forward(self, x: torch.Tensor):
        w = self.weights().view(-1, *([1] * (x.dim() - 1)))
        return (w * x).sum(0), {}
