"""``TinySAModule``: local self-attention over voxel neighbourhoods (a light 3D neck)."""
import math

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from ..layers.voxel_ball_query import ball_offsets, voxel_ball_query


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

    def forward(self, f, index, mask, oid, table):
        """``f`` (M, C); ``index``/``mask``/``oid`` (M, K) (neighbour row, real neighbour,
        ball-offset id); ``table`` (O + 1, C) relative-position embedding per offset (last
        row zero, the padding). ``(k_j + p) . q = k_j . q + p . q`` and ``sum a (v_j + p) =
        sum a v_j + sum a p``: the position terms are computed per offset (O of them) and
        gathered, never materialised per (voxel, neighbour)."""
        m, k = index.shape
        c = f.shape[1]
        q, kv = self.qkv(self.norm1(f)).split([c, 2 * c], dim=1)
        flat = index.reshape(-1)          # contiguous gathers: their backward is cheaper on CPU
        key = kv[:, :c].contiguous().index_select(0, flat).view(m, k, self.h, self.d)
        val = kv[:, c:].contiguous().index_select(0, flat).view(m, k, self.h, self.d)
        q = q.contiguous().view(m, self.h, self.d)
        tab = table.view(-1, self.h, self.d)                       # (O + 1, H, d)
        scale = 1.0 / math.sqrt(self.d)
        qp = torch.einsum('mhd,ohd->moh', q, tab)                  # (M, O + 1, H)
        logits = (q[:, None] * key).sum(-1) + qp.gather(
            1, oid[..., None].expand(-1, -1, self.h))              # (M, K, H)
        attn = (logits * scale).masked_fill(~mask[..., None], float('-inf')).softmax(1)
        out = (attn[..., None] * val).sum(1)               # (M, H, d)
        w = attn.new_zeros(m, tab.shape[0], self.h).scatter_add(
            1, oid[..., None].expand(-1, -1, self.h), attn)
        out = (out + torch.einsum('moh,ohd->mhd', w, tab)).reshape(m, c)
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
        index, mask, _, oid = voxel_ball_query(x.C, self.radius, self.max_neighbors, stride)
        # the embedding of each of the O ball offsets once, gathered per (voxel, neighbour);
        # the extra zero row is the padding
        offsets = ball_offsets(self.radius).to(x.F.device).float() / self.radius
        table = torch.cat([self.pos_embed(offsets), x.F.new_zeros(1, x.F.shape[1])])
        f = x.F
        for layer in self.layers:
            f = layer(f, index, mask, oid, table)
        return ME.SparseTensor(features=f, coordinate_map_key=x.coordinate_map_key,
                               coordinate_manager=x.coordinate_manager)
