"""``TinySAModule``: local self-attention over voxel neighbourhoods (a light 3D neck)."""
import math

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from ..layers.voxel_ball_query import voxel_ball_query


class TinySALayer(nn.Module):
    """Pre-norm local attention + FFN; ``out_proj`` and the FFN's last layer start at zero
    (the layer starts as the identity)."""

    def __init__(self, channels: int, num_heads: int, ffn_ratio: float):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'TinySA: {channels} channels not divisible by {num_heads} heads')
        self.h, self.d = num_heads, channels // num_heads
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out_proj = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        hidden = int(channels * ffn_ratio)
        self.ffn = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(),
                                 nn.Linear(hidden, channels))
        for lin in (self.out_proj, self.ffn[2]):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, f, index, mask, pos):
        m, k = index.shape
        q, key, v = self.qkv(self.norm1(f)).chunk(3, dim=1)
        key = key[index] + pos                                   # (M, K, C)
        v = v[index] + pos
        q = q.view(m, 1, self.h, self.d)
        logits = (q * key.view(m, k, self.h, self.d)).sum(-1) / math.sqrt(self.d)  # (M,K,H)
        logits = logits.masked_fill(~mask[..., None], float('-inf'))
        attn = logits.softmax(1)
        out = (attn[..., None] * v.view(m, k, self.h, self.d)).sum(1).reshape(m, -1)
        f = f + self.out_proj(out)
        return f + self.ffn(self.norm2(f))


@MODELS.register_module()
class TinySAModule(nn.Module):
    """Two layers (``num_layers``) of local multi-head self-attention on the stride-1 voxel
    features, each voxel attending to its ``max_neighbors`` nearest occupied voxels within
    ``radius`` cells (:func:`~oneformer3d.models.layers.voxel_ball_query`, itself included).

    Per layer (pre-norm transformer, Vaswani et al. 2017, with scalar dot-product attention
    over a local neighbourhood; the relative-position embedding enters both the keys and the
    values, as ``delta`` does in Point Transformer, Zhao et al. ICCV 2021, Eq. 3):
    ``q_i = W_q LN(f_i)``, ``k_ij = W_k LN(f_j) + P(d_ij)``, ``v_ij = W_v LN(f_j) + P(d_ij)``,
    ``f_i += W_o sum_j softmax_j(q_i . k_ij / sqrt(d)) v_ij``, ``f_i += FFN(LN(f_i))``, where
    ``d_ij = (x_j - x_i) / radius`` (cells) and ``P`` = :attr:`pos_embed` (an MLP 3 -> C shared
    by the layers; its parameters are named ``neck.pos_embed.*`` in the detector, which
    ``paramwise_cfg`` keys can address without matching ``decoder.pos_embed``). ``W_o`` and
    the FFN's last layer are zero-initialised: the neck starts as the identity, so a model
    fine-tuned from a 3D checkpoint starts from its predictions.

    Args:
        in_channels: C (filled in by the detector from the part before the neck).
        num_layers: 2.
        num_heads: attention heads (C must divide).
        radius: ball radius in stride-1 voxels (2 = 4 cm at 0.02 m voxels).
        max_neighbors: K.
        ffn_ratio: FFN hidden width / C.

    Input/output ``ME.SparseTensor`` (M, C), same coordinates and row order.
    """

    def __init__(self, in_channels: int, num_layers: int = 2, num_heads: int = 4,
                 radius: float = 2.0, max_neighbors: int = 16, ffn_ratio: float = 2.0):
        super().__init__()
        self.radius, self.max_neighbors = radius, max_neighbors
        self.out_channels = in_channels
        self.pos_embed = nn.Sequential(nn.Linear(3, in_channels), nn.ReLU(inplace=True),
                                       nn.Linear(in_channels, in_channels))
        self.layers = nn.ModuleList(TinySALayer(in_channels, num_heads, ffn_ratio)
                                    for _ in range(num_layers))

    def forward(self, x: ME.SparseTensor) -> ME.SparseTensor:
        stride = x.tensor_stride[0]
        index, mask, rel = voxel_ball_query(x.C, self.radius, self.max_neighbors, stride)
        pos = self.pos_embed(rel / self.radius) * mask[..., None]
        f = x.F
        for layer in self.layers:
            f = layer(f, index, mask, pos)
        return ME.SparseTensor(features=f, coordinate_map_key=x.coordinate_map_key,
                               coordinate_manager=x.coordinate_manager)
