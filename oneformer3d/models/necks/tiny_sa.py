"""``TinySAModule``: local self-attention over voxel neighbourhoods (a light 3D neck)."""
import math

import MinkowskiEngine as ME
import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from ..layers.voxel_ball_query import (NeighborGroups, ball_offsets,
                                      group_by_neighbor_count, voxel_ball_query)


class TinySALayer(nn.Module):
    """Pre-norm local attention + FFN; ``out_proj`` and the FFN's last layer start at zero
    (the layer starts as the identity)."""

    def __init__(self, channels: int, num_heads: int, ffn_ratio: float):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'TinySA: {channels} channels not divisible by {num_heads} heads')
        self.h, self.d = num_heads, channels // num_heads
        self.scale = 1.0 / math.sqrt(self.d)
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

    def forward(self, f: torch.Tensor, groups: NeighborGroups, table: torch.Tensor
                ) -> torch.Tensor:
        """``f`` (M, C); ``groups`` (:func:`~oneformer3d.models.layers.group_by_neighbor_count`:
        voxels with ``n`` real neighbours in dense (R_n, n) blocks); ``table`` (O, C)
        relative-position embedding per ball offset. ``(k_j + p) . q = k_j . q + p . q`` and
        ``sum a (v_j + p) = sum a v_j + sum a p``: the position terms are computed per offset
        and gathered, never materialised per (voxel, neighbour); only real neighbours are
        gathered (one gather for all groups, no padding, no mask)."""
        m, c = f.shape
        h, d = self.h, self.d
        q, kv = self.qkv(self.norm1(f)).split([c, 2 * c], dim=1)
        q = q.index_select(0, groups.rows).view(m, h, d)           # group order
        key_p = kv[:, :c].contiguous().index_select(0, groups.index)   # (P, C) real pairs
        val_p = kv[:, c:].contiguous().index_select(0, groups.index)
        tab = table.view(-1, h, d)                                 # (O, H, d)
        qp = torch.einsum('mhd,ohd->moh', q, tab) * self.scale     # (M, O, H)
        r_n = [r for r, _ in groups.sizes]
        p_n = [r * n for r, n in groups.sizes]
        outs = []
        for (r, n), qr, qpr, key, val, oid in zip(
                groups.sizes, q.split(r_n), qp.split(r_n), key_p.split(p_n), val_p.split(p_n),
                groups.offset_id.split(p_n)):
            key, val = key.view(r, n, h, d), val.view(r, n, h, d)
            oid = oid.view(r, n, 1).expand(-1, -1, h)
            logits = (qr[:, None] * key).sum(-1) * self.scale + qpr.gather(1, oid)
            attn = logits.softmax(1)                               # (R, n, H)
            w = attn.new_zeros(r, tab.shape[0], h).scatter_add(1, oid, attn)
            outs.append((attn[..., None] * val).sum(1) + torch.einsum('roh,ohd->rhd', w, tab))
        out = torch.cat(outs).index_select(0, groups.inverse).reshape(m, c)
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

    Computed on the real (voxel, neighbour) pairs only, the voxels grouped by their number of
    neighbours (:func:`~oneformer3d.models.layers.group_by_neighbor_count`; on a depth
    frame's 2 cm voxels about 7 of the 16 slots are occupied), with ``P`` evaluated once per
    ball offset; the result is the padded formula's (``tests/test_fusion.py`` checks it).

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
        # the embedding of each of the O ball offsets once, gathered per (voxel, neighbour)
        table = self.pos_embed(ball_offsets(self.radius).to(x.F.device).float() / self.radius)
        groups = group_by_neighbor_count(index, mask, oid)
        f = x.F
        for layer in self.layers:
            f = layer(f, groups, table)
        return ME.SparseTensor(features=f, coordinate_map_key=x.coordinate_map_key,
                               coordinate_manager=x.coordinate_manager)
