"""Query decoder over superpoint features (OneFormer3D / ESAM; Mask2Former-style layers).

Kolodiazhnyi et al., "OneFormer3D", CVPR 2024; ``QueryDecoder`` / ``ScanNetQueryDecoder`` of
``filaPro/oneformer3d`` ``oneformer3d/query_decoder.py`` (ESAM's file has the same layers).
Queries are initialised from (a random subset during training, all at test time) of the
superpoint features; each layer does masked cross-attention from queries to superpoints (mask
= previous prediction < 0.5), self-attention among queries and an FFN. Every layer (and the
initial queries) predicts class logits and mask logits over superpoints — the dot product of
the normalised query with ``x_mask`` (an MLP) of the superpoint features — and, with
``objectness_flag``, an objectness score; the criterion supervises all of them. The semantic
head reads the last layer's queries (upstream: every superpoint is a query at test time, so a
query's semantics is its seed superpoint's).
"""
from typing import List, Optional

import torch
import torch.nn as nn

from oneformer3d.registry import MODELS
from ..layers import farthest_point_sampling


class CrossAttentionLayer(nn.Module):
    """Queries attend to superpoints. ``fix=True`` (upstream ``fix_attention``, every ScanNet
    config): ``q = LN(q + Dropout(Attn(q, s, s)))``; ``fix=False``: ``q = q + Attn(q, s, s)``.
    Weights of rank > 1 are Xavier-uniform initialised (upstream ``init_weights``)."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, fix: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout,
                                          batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.fix = fix
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, q: torch.Tensor, src: torch.Tensor,
                blocked: Optional[torch.Tensor] = None) -> torch.Tensor:
        """q (Q, d), src (S, d), blocked (Q, S) bool (True = masked out)."""
        out = self.attn(q[None], src[None], src[None], attn_mask=blocked,
                        need_weights=False)[0][0]
        if self.fix:
            return self.norm(self.dropout(out) + q)
        return out + q


class SelfAttentionLayer(nn.Module):
    """``q = LN(q + Dropout(Attn(q, q, q)))``."""

    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout,
                                          batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.norm(self.dropout(self.attn(q[None], q[None], q[None],
                                                need_weights=False)[0][0]) + q)


class FFN(nn.Module):
    """``q = LN(q + Dropout(W2 Dropout(act(W1 q))))``; ``act`` ``'relu'`` or ``'gelu'``."""

    def __init__(self, d_model: int, hidden_dim: int, dropout: float, activation_fn: str):
        super().__init__()
        if activation_fn not in ('relu', 'gelu'):
            raise ValueError(f"activation_fn must be 'relu' or 'gelu', got {activation_fn!r}")
        self.net = nn.Sequential(
            nn.Linear(d_model, hidden_dim),
            nn.ReLU() if activation_fn == 'relu' else nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, d_model), nn.Dropout(dropout))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.norm(self.net(q) + q)


class DecoderLayer(nn.Module):
    """Cross-attention, self-attention, FFN (upstream ``cross_attn_layers[i]``,
    ``self_attn_layers[i]``, ``ffn_layers[i]``)."""

    def __init__(self, d_model, num_heads, ffn_dim, dropout, activation_fn, fix_attention):
        super().__init__()
        self.cross_attn = CrossAttentionLayer(d_model, num_heads, dropout, fix_attention)
        self.self_attn = SelfAttentionLayer(d_model, num_heads, dropout)
        self.ffn = FFN(d_model, ffn_dim, dropout, activation_fn)

    def forward(self, q, src, blocked):
        return self.ffn(self.self_attn(self.cross_attn(q, src, blocked)))


def mlp(c_in: int, c_hidden: int, c_out: int) -> nn.Sequential:
    """Linear, ReLU, Linear (upstream's ``query_proj`` / ``x_mask`` / ``out_cls`` form)."""
    return nn.Sequential(nn.Linear(c_in, c_hidden), nn.ReLU(), nn.Linear(c_hidden, c_out))


@MODELS.register_module()
class QueryDecoder(nn.Module):
    """See the module docstring. Defaults are upstream's ScanNet200 values.

    Args:
        in_channels: superpoint feature channels (backbone output).
        d_model, num_layers, num_heads, ffn_dim, dropout: transformer sizes (upstream
            ``hidden_dim`` = ``ffn_dim``).
        activation_fn: FFN activation, ``'gelu'`` (upstream's configs) or ``'relu'``.
        fix_attention: normalise after the cross-attention residual (see
            :class:`CrossAttentionLayer`).
        objectness_flag: add the objectness head (upstream: False for ScanNet / ScanNet200,
            True for S3DIS). Its sigmoid multiplies the class probability at inference and
            regresses the IoU of matched masks above 0.5 (upstream uses the raw output:
            unbounded, a product with a probability that can turn negative; we bound it).
        num_instance_classes: K (1 = class-agnostic); class logits have K + 1 columns, the last
            is "no object"; the class head is ``mlp(d, d, K + 1)`` (upstream ``out_cls``).
        num_semantic_classes: C_sem; when set, a semantic head ``Linear(d, C_sem + 1)``
            (upstream ``out_sem`` with ``num_semantic_linears=1``; its last column is never
            used, upstream drops it in the loss and at inference, and so do we).
        semantic_source: what the semantic head reads: ``'query'`` (upstream: the last
            layer's normalised queries; their semantics are their seed superpoints') or
            ``'superpoint'`` (the projected superpoint features; for configs whose queries
            do not cover every superpoint at test time, ``max_queries``).
        query_ratio: least share of superpoints used as queries during training; each sample
            draws its share uniformly in ``[query_ratio, 1]`` (OneFormer3D ``query_thr`` 0.5).
        attn_mask: Mask2Former masked attention.
        max_queries: (our extra, None in reproduction configs) cap on the number of queries.
            Inference takes a farthest-point sample of the superpoint centroids.
        query_sampling: (our extra) how training picks queries: ``'random'`` (upstream) or
            ``'fps'`` (the same farthest-point sample as inference; for overfitting checks).
        pos_embed: (our extra, off in reproduction configs) add an MLP embedding of each
            superpoint's centroid (metres, relative to the sample's mean) to the superpoint
            features, mask features and queries.

    ``forward(sp_feats, training, sp_xyz=None)`` takes a list over samples of
    (S_i, in_channels) (and of (S_i, 3) centroids when ``pos_embed`` / ``max_queries``) and
    returns ``{'layers': [ {'cls': [(Q_i, K+1)], 'masks': [(Q_i, S_i)], 'scores': [(Q_i,) or
    None]} ] * (L+1), 'sem': [(R_i, C_sem)] or None, 'sem_idx': [(R_i,)] the superpoint of
    each semantic row, 'query_idx': [(Q_i,)], 'queries': [(Q_i, d_model)]}`` (the last
    layer's normalised query embeddings, e.g. for a merge head).

    Raises:
        ValueError: unknown ``query_sampling`` / ``semantic_source``; ``semantic_source=
            'query'`` with ``max_queries`` (test-time queries would not cover every
            superpoint).
    """

    def __init__(self, in_channels: int = 96, d_model: int = 256, num_layers: int = 3,
                 num_heads: int = 8, ffn_dim: int = 1024, dropout: float = 0.0,
                 activation_fn: str = 'gelu', fix_attention: bool = True,
                 objectness_flag: bool = False,
                 num_instance_classes: int = 1, num_semantic_classes: Optional[int] = None,
                 semantic_source: str = 'query',
                 query_ratio: float = 0.5, attn_mask: bool = True, pos_embed: bool = False,
                 max_queries: Optional[int] = None, query_sampling: str = 'random'):
        super().__init__()
        if query_sampling not in ('random', 'fps'):
            raise ValueError(f'query_sampling must be random or fps, got {query_sampling!r}')
        if semantic_source not in ('query', 'superpoint'):
            raise ValueError(f"semantic_source must be 'query' or 'superpoint', got "
                             f'{semantic_source!r}')
        if num_semantic_classes and semantic_source == 'query' and max_queries:
            raise ValueError("semantic_source='query' needs every superpoint as a query at "
                             "test time; with max_queries use semantic_source='superpoint'")
        self.pos_embed = mlp(3, d_model, d_model) if pos_embed else None
        self.input_proj = nn.Sequential(nn.Linear(in_channels, d_model), nn.LayerNorm(d_model),
                                        nn.ReLU())
        self.query_proj = mlp(in_channels, d_model, d_model)
        self.x_mask = mlp(in_channels, d_model, d_model)
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, ffn_dim, dropout, activation_fn, fix_attention)
            for _ in range(num_layers))
        self.out_norm = nn.LayerNorm(d_model)
        self.cls_head = mlp(d_model, d_model, num_instance_classes + 1)
        self.score_head = mlp(d_model, d_model, 1) if objectness_flag else None
        self.num_semantic_classes = num_semantic_classes
        self.sem_head = (nn.Linear(d_model, num_semantic_classes + 1)
                         if num_semantic_classes else None)
        self.semantic_source = semantic_source
        self.num_instance_classes = num_instance_classes
        self.query_ratio = query_ratio
        self.attn_mask = attn_mask
        self.max_queries = max_queries
        self.query_sampling = query_sampling

    #: the criterion's targets this decoder needs besides superpoint masks (ESAM's
    #: ``MixQueryDecoder`` sets them): point-level masks, boxes
    needs_point_masks = False
    predicts_boxes = False

    # ---- the steps a subclass may change (``MixQueryDecoder``: point-level masks)
    def _sources(self, feats, xyz, points, point2sp) -> dict:
        """What the layers read for one sample: ``sp`` (S, d) the cross-attention keys,
        ``mask_feats`` (S, d) the mask embeddings (with ``pos_embed`` added when on)."""
        src = dict(sp=self.input_proj(feats), mask_feats=self.x_mask(feats))
        if self.pos_embed is not None:
            src['pe'] = self.pos_embed((xyz - xyz.mean(0, keepdim=True)).to(src['sp'].dtype))
            src['sp'] = src['sp'] + src['pe']
            src['mask_feats'] = src['mask_feats'] + src['pe']
        return src

    def mask_mode(self, level: int) -> str:
        """``'SP'`` (masks over superpoints) or ``'P'`` (over points) for prediction
        ``level`` (0 = the initial queries, l = after layer l)."""
        return 'SP'

    def _mask_feats(self, src, level: int) -> torch.Tensor:
        """The embeddings prediction ``level``'s mask logits are a dot product with."""
        return src['mask_feats']

    def _predict(self, q, src, level: int) -> dict:
        qn = self.out_norm(q)
        return dict(cls=self.cls_head(qn), masks=qn @ self._mask_feats(src, level).T,
                    scores=self.score_head(qn).squeeze(-1) if self.score_head is not None
                    else None)

    def _cross_source(self, src, prev: dict, layer: int):
        """Keys/values and blocked mask (Q, S) bool or None of decoder layer ``layer``."""
        return src['sp'], self._attn_mask(prev['masks']) if self.attn_mask else None

    @staticmethod
    def _attn_mask(masks):
        blocked = masks.sigmoid() < 0.5
        blocked[blocked.all(dim=1)] = False  # a query with an empty mask attends everywhere
        return blocked.detach()

    def _select_queries(self, feats, xyz, training):
        s = feats.shape[0]
        cap = self.max_queries or s
        if training and self.query_sampling == 'random':
            # OneFormer3D ``_select_queries``: a share drawn uniformly in [query_ratio, 1]
            # (a CPU draw: no device sync)
            share = self.query_ratio + (1 - self.query_ratio) * float(torch.rand(()))
            k = min(cap, max(1, int(s * share)))
            return torch.randperm(s, device=feats.device)[:k]
        if cap < s:
            if xyz is None:
                raise ValueError('QueryDecoder(max_queries=...) needs sp_xyz')
            return farthest_point_sampling(xyz, cap)
        return torch.arange(s, device=feats.device)

    def forward(self, sp_feats: List[torch.Tensor], training: bool = False,
                sp_xyz: Optional[List[torch.Tensor]] = None,
                points: Optional[List[dict]] = None,
                point2sp: Optional[List[torch.Tensor]] = None) -> dict:
        if self.pos_embed is not None and sp_xyz is None:
            raise ValueError('QueryDecoder(pos_embed=True) needs superpoint centroids sp_xyz')
        outs = None
        sems, sem_idx, query_idx, queries = [], [], [], []
        for i, feats in enumerate(sp_feats):
            xyz = None if sp_xyz is None else sp_xyz[i]
            idx = self._select_queries(feats, xyz, training)
            query_idx.append(idx)
            src = self._sources(feats, xyz, None if points is None else points[i],
                                None if point2sp is None else point2sp[i])
            q = self.query_proj(feats[idx])
            if 'pe' in src:
                q = q + src['pe'][idx]
            preds = [self._predict(q, src, 0)]
            for layer_i, layer in enumerate(self.layers):
                q = layer(q, *self._cross_source(src, preds[-1], layer_i))
                preds.append(self._predict(q, src, layer_i + 1))
            if outs is None:
                outs = [dict({k: [] for k in p}, mask_mode=self.mask_mode(level))
                        for level, p in enumerate(preds)]
            for o, p in zip(outs, preds):
                for k, v in p.items():
                    o[k].append(v)
            queries.append(self.out_norm(q))
            if self.sem_head is not None:
                sem_src = queries[-1] if self.semantic_source == 'query' else src['sp']
                sems.append(self.sem_head(sem_src)[:, :self.num_semantic_classes])
                sem_idx.append(idx if self.semantic_source == 'query'
                               else torch.arange(feats.shape[0], device=feats.device))
        has_sem = self.sem_head is not None
        return dict(layers=outs, sem=sems if has_sem else None,
                    sem_idx=sem_idx if has_sem else None, query_idx=query_idx,
                    queries=queries)
