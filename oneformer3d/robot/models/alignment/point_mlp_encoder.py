"""``PointMLPEncoder``: a small PointNet-style per-point encoder (frozen teacher stand-in)."""
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS


@MODELS.register_module()
class PointMLPEncoder(nn.Module):
    """Per-point features from xyz + rgb: shared MLP, global max-pool, concatenation and a
    second MLP (Qi et al., PointNet, CVPR 2017, segmentation branch).

    The alignment study's teacher is ULIP (per-point 256-d); no ULIP weights exist here, so
    any registered point encoder writes ``pc_feat`` and its name goes into the file's meta.

    Args:
        in_channels: 6 (xyz metres, rgb 0..255 -> scaled to 0..1 inside).
        hidden / out_channels: MLP widths (out 256 like ULIP's).
        seed: initialisation seed (a frozen random teacher is reproducible).

    ``forward(points (N, 6) or (B, N, 6)) -> (…, N, out_channels)`` float32.
    """

    def __init__(self, in_channels: int = 6, hidden: int = 128, out_channels: int = 256,
                 seed: int = 0):
        super().__init__()
        gen = torch.random.fork_rng()
        with gen:
            torch.manual_seed(seed)
            self.local = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(),
                                       nn.Linear(hidden, hidden), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(),
                                      nn.Linear(hidden, out_channels))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        x = points.float()
        x = torch.cat([x[..., :3], x[..., 3:6] / 255.0, x[..., 6:]], dim=-1)
        local = self.local(x)
        glob = local.max(dim=-2, keepdim=True).values.expand_as(local)
        return self.head(torch.cat([local, glob], dim=-1))
