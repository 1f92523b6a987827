"""Parameter names and shapes of upstream OneFormer3D's ScanNet200 model, written from its
definition (filaPro/oneformer3d @ 608e5b93: ``oneformer3d/query_decoder.py`` ``QueryDecoder``
/ ``ScanNetQueryDecoder``, ``oneformer3d/oneformer3d.py`` ``ScanNet200OneFormer3D``,
``configs/oneformer3d_1xb4_scannet200.py``), not from our modules, so that a checkpoint
converter is tested against what upstream saves.

What the definition says (``num_instance_queries = num_semantic_queries = 0``: no learnt query
embedding; ``objectness_flag=False``: no ``out_score``; ``num_semantic_linears=1``):

* ``input_proj`` = Linear(in, d), LayerNorm(d), ReLU; ``query_proj`` and ``x_mask`` =
  Linear(in, d), ReLU, Linear(d, d);
* per layer: ``cross_attn_layers[i]`` and ``self_attn_layers[i]`` = ``attn``
  (``nn.MultiheadAttention``: ``in_proj_weight`` (3d, d), ``in_proj_bias`` (3d,),
  ``out_proj``) + ``norm``; ``ffn_layers[i].net`` = Linear(d, h), act, Dropout, Linear(h, d),
  Dropout, + ``norm``;
* ``out_norm``; ``out_cls`` = Linear(d, d), ReLU, Linear(d, K + 1); ``out_sem`` =
  Linear(d, C_sem + 1);
* the detector holds ``backbone`` (Res16UNet34C, Mask3D's names, ``final`` included) and
  ``decoder``.
"""
from collections import OrderedDict

from tests.helpers.mask3d_reference import mask3d_res16unet34c_shapes


def _linear(out, name, cin, cout):
    out[f'{name}.weight'] = (cout, cin)
    out[f'{name}.bias'] = (cout,)


def _norm(out, name, c):
    out[f'{name}.weight'] = (c,)
    out[f'{name}.bias'] = (c,)


def _mha(out, name, d):
    out[f'{name}.in_proj_weight'] = (3 * d, d)
    out[f'{name}.in_proj_bias'] = (3 * d,)
    _linear(out, f'{name}.out_proj', d, d)


def scannet_query_decoder_shapes(num_layers=6, in_channels=96, d_model=256, hidden_dim=1024,
                                 num_instance_classes=198, num_semantic_classes=200):
    out = OrderedDict()
    d = d_model
    _linear(out, 'input_proj.0', in_channels, d)
    _norm(out, 'input_proj.1', d)
    _linear(out, 'query_proj.0', in_channels, d)
    _linear(out, 'query_proj.2', d, d)
    for i in range(num_layers):
        _mha(out, f'cross_attn_layers.{i}.attn', d)
        _norm(out, f'cross_attn_layers.{i}.norm', d)
        _mha(out, f'self_attn_layers.{i}.attn', d)
        _norm(out, f'self_attn_layers.{i}.norm', d)
        _linear(out, f'ffn_layers.{i}.net.0', d, hidden_dim)
        _linear(out, f'ffn_layers.{i}.net.3', hidden_dim, d)
        _norm(out, f'ffn_layers.{i}.norm', d)
    _norm(out, 'out_norm', d)
    _linear(out, 'out_cls.0', d, d)
    _linear(out, 'out_cls.2', d, num_instance_classes + 1)
    _linear(out, 'x_mask.0', in_channels, d)
    _linear(out, 'x_mask.2', d, d)
    _linear(out, 'out_sem', d, num_semantic_classes + 1)
    return out


def oneformer3d_scannet200_shapes():
    """``{name: shape}`` of ``ScanNet200OneFormer3D``'s state dict (upstream config)."""
    out = OrderedDict()
    for k, v in mask3d_res16unet34c_shapes(in_channels=3, out_channels=96).items():
        out[f'backbone.{k}'] = v
    for k, v in scannet_query_decoder_shapes().items():
        out[f'decoder.{k}'] = v
    return out
