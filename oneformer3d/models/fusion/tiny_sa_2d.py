"""``TinySA2D``: lightweight windowed self-attention on a 2D feature map."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from oneformer3d.registry import MODELS


@MODELS.register_module()
class TinySA2D(nn.Module):
    """One pre-norm transformer layer restricted to non-overlapping ``window`` x ``window``
    cells of the map (Swin's window attention, Liu et al. ICCV 2021, without shifts and
    without relative bias): ``x = x + MSA(LN(x))``, ``x = x + FFN(LN(x))`` inside each window.

    Args:
        channels: C of the map.
        num_heads: attention heads.
        window: window side in feature cells (the map is padded to a multiple; padded
            cells are masked out of the attention).
        ffn_ratio: FFN hidden width / C.

    Input/output (B, C, H_f, W_f) float. The residual branches' output projections are
    zero-initialised, so the layer starts as the identity.
    """

    def __init__(self, channels: int, num_heads: int = 4, window: int = 8,
                 ffn_ratio: float = 2.0):
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(channels)
        hidden = int(channels * ffn_ratio)
        self.ffn = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(),
                                 nn.Linear(hidden, channels))
        for lin in (self.attn.out_proj, self.ffn[2]):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.window
        ph, pw = (-h) % s, (-w) % s
        t = F.pad(x, (0, pw, 0, ph))
        hh, ww = h + ph, w + pw
        # (B, C, hh, ww) -> (B * windows, s * s, C)
        t = self._windows(t, s)
        pad = self._windows(F.pad(x.new_zeros(b, 1, h, w), (0, pw, 0, ph), value=1.0), s)
        y = self.norm1(t)
        t = t + self.attn(y, y, y, key_padding_mask=pad[..., 0] > 0, need_weights=False)[0]
        t = t + self.ffn(self.norm2(t))
        t = t.view(b, hh // s, ww // s, s, s, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, hh, ww)
        return t[:, :, :h, :w]

    @staticmethod
    def _windows(t: torch.Tensor, s: int) -> torch.Tensor:
        """(B, C, H, W) with H, W multiples of ``s`` -> (B * windows, s * s, C)."""
        b, c, hh, ww = t.shape
        return t.view(b, c, hh // s, s, ww // s, s).permute(0, 2, 4, 3, 5, 1).reshape(
            -1, s * s, c)
