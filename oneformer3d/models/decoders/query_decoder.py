"""Query decoder over superpoint features (OneFormer3D/ESAM; Mask2Former-style layers).

Kolodiazhnyi et al., "OneFormer3D", CVPR 2024 (``QueryDecoder``); Cheng et al., "Masked-attention
Mask Transformer", CVPR 2022. Queries are initialised from (a random subset during training,
all at test time) of the superpoint features; each layer does masked cross-attention from
queries to superpoints (mask = previous layer's prediction < 0.5), self-attention among
queries and an FFN. Every layer (and the initial queries) predicts class logits, mask logits
over superpoints (dot product of a mask embedding with superpoint features) and an
objectness score; the criterion supervises all of them.
"""
from typing import List, Optional

import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from ..layers import farthest_point_sampling


class _DecoderLayer(nn.Module):

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout,
                                                batch_first=True)
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout,
                                               batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, d_model))
        self.norm3 = nn.LayerNorm(d_model)
        self.num_heads = num_heads

    def forward(self, q: torch.Tensor, sp: torch.Tensor,
                blocked: Optional[torch.Tensor]) -> torch.Tensor:
        """q (Q, d) queries, sp (S, d) superpoints, blocked (Q, S) bool (True = masked out)."""
        qb, spb = q[None], sp[None]
        mask = None
        if blocked is not None:  # one sample: (num_heads, Q, S)
            mask = blocked[None].expand(self.num_heads, -1, -1)
        qb = self.norm1(qb + self.cross_attn(qb, spb, spb, attn_mask=mask,
                                             need_weights=False)[0])
        qb = self.norm2(qb + self.self_attn(qb, qb, qb, need_weights=False)[0])
        return self.norm3(qb + self.ffn(qb))[0]


@MODELS.register_module()
class QueryDecoder(nn.Module):
    """See the module docstring.

    Args:
        in_channels: superpoint feature channels (backbone output).
        d_model, num_layers, num_heads, ffn_dim, dropout: transformer sizes.
        num_instance_classes: K (1 = class-agnostic); class logits have K + 1 columns, the last
            is "no object".
        num_semantic_classes: when set, a per-superpoint semantic head (logits of
            ``num_semantic_classes``) is added.
        query_ratio: least share of superpoints used as queries during training; each sample
            draws its share uniformly in ``[query_ratio, 1]`` (OneFormer3D ``query_thr`` 0.5).
        attn_mask: Mask2Former masked attention.
        max_queries: cap on the number of queries (None = no cap). Inference takes a
            farthest-point sample of the superpoint centroids (deterministic, even coverage).
            Needed with fine superpoints (thousands per scene) to keep attention affordable.
        query_sampling: how training picks its queries: ``'random'`` (a random share of the
            superpoints, at most ``max_queries``; OneFormer3D) or ``'fps'`` (the same
            farthest-point sample as inference; for overfitting checks).
        pos_embed: add an MLP embedding of each superpoint's centroid (metres, relative to the
            sample's mean) to superpoint features and queries (Mask3D uses positional
            encodings of the same kind); lets equal-looking objects get different masks.

    ``forward(sp_feats, training, sp_xyz=None)`` takes a list over samples of
    (S_i, in_channels) (and of (S_i, 3) centroids when ``pos_embed``) and returns
    ``{'layers': [ {'cls': [(Q_i, K+1)], 'masks': [(Q_i, S_i)], 'scores': [(Q_i,)]} ] * (L+1),
    'sem': [(S_i, C_sem)] or None, 'query_idx': [(Q_i,)], 'queries': [(Q_i, d_model)]}`` (the
    last layer's normalised query embeddings, e.g. for a merge head).
    """

    def __init__(self, in_channels: int = 96, d_model: int = 256, num_layers: int = 3,
                 num_heads: int = 8, ffn_dim: int = 1024, dropout: float = 0.0,
                 num_instance_classes: int = 1, num_semantic_classes: Optional[int] = None,
                 query_ratio: float = 0.5, attn_mask: bool = True, pos_embed: bool = False,
                 max_queries: Optional[int] = None, query_sampling: str = 'random'):
        super().__init__()
        self.pos_embed = nn.Sequential(nn.Linear(3, d_model), nn.ReLU(),
                                       nn.Linear(d_model, d_model)) if pos_embed else None
        self.input_proj = nn.Sequential(nn.Linear(in_channels, d_model), nn.LayerNorm(d_model),
                                        nn.ReLU())
        self.query_proj = nn.Sequential(nn.Linear(in_channels, d_model), nn.ReLU(),
                                        nn.Linear(d_model, d_model))
        self.layers = nn.ModuleList(_DecoderLayer(d_model, num_heads, ffn_dim, dropout)
                                    for _ in range(num_layers))
        self.out_norm = nn.LayerNorm(d_model)
        self.cls_head = nn.Linear(d_model, num_instance_classes + 1)
        self.score_head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(),
                                        nn.Linear(d_model, 1))
        self.mask_embed = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(),
                                        nn.Linear(d_model, d_model))
        self.sem_head = nn.Linear(d_model, num_semantic_classes) if num_semantic_classes else None
        self.num_instance_classes = num_instance_classes
        self.query_ratio = query_ratio
        self.attn_mask = attn_mask
        self.max_queries = max_queries
        if query_sampling not in ('random', 'fps'):
            raise ValueError(f'query_sampling must be random or fps, got {query_sampling!r}')
        self.query_sampling = query_sampling

    def _predict(self, q, sp):
        qn = self.out_norm(q)
        masks = torch.einsum('qd,sd->qs', self.mask_embed(qn), sp)
        return self.cls_head(qn), masks, self.score_head(qn).squeeze(-1)

    def _attn_mask(self, masks):
        blocked = masks.sigmoid() < 0.5
        blocked[blocked.all(dim=1)] = False  # a query with an empty mask attends everywhere
        return blocked.detach()

    def forward(self, sp_feats: List[torch.Tensor], training: bool = False,
                sp_xyz: Optional[List[torch.Tensor]] = None) -> dict:
        if self.pos_embed is not None and sp_xyz is None:
            raise ValueError('QueryDecoder(pos_embed=True) needs superpoint centroids sp_xyz')
        outs = None
        sems, query_idx, queries = [], [], []
        for i, feats in enumerate(sp_feats):
            s = feats.shape[0]
            cap = self.max_queries or s
            if training and self.query_sampling == 'random':
                # OneFormer3D ``_select_queries``: a share drawn uniformly in [query_ratio, 1]
                # (a CPU draw: no device sync)
                share = self.query_ratio + (1 - self.query_ratio) * float(torch.rand(()))
                k = min(cap, max(1, int(s * share)))
                idx = torch.randperm(s, device=feats.device)[:k]
            elif cap < s:
                if sp_xyz is None:
                    raise ValueError('QueryDecoder(max_queries=...) needs sp_xyz at inference')
                idx = farthest_point_sampling(sp_xyz[i], cap)
            else:
                idx = torch.arange(s, device=feats.device)
            query_idx.append(idx)
            sp = self.input_proj(feats)
            q = self.query_proj(feats[idx])
            if self.pos_embed is not None:
                xyz = sp_xyz[i] - sp_xyz[i].mean(0, keepdim=True)
                pe = self.pos_embed(xyz.to(sp.dtype))
                sp = sp + pe
                q = q + pe[idx]
            preds = [self._predict(q, sp)]
            for layer in self.layers:
                blocked = self._attn_mask(preds[-1][1]) if self.attn_mask else None
                q = layer(q, sp, blocked)
                preds.append(self._predict(q, sp))
            if outs is None:
                outs = [dict(cls=[], masks=[], scores=[]) for _ in preds]
            for o, (c, m, sc) in zip(outs, preds):
                o['cls'].append(c)
                o['masks'].append(m)
                o['scores'].append(sc)
            sems.append(self.sem_head(sp) if self.sem_head is not None else None)
            queries.append(self.out_norm(q))
        return dict(layers=outs, sem=sems if self.sem_head is not None else None,
                    query_idx=query_idx, queries=queries)
