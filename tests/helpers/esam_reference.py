"""Parameter names and shapes of ESAM's single-view ScanNet200 CA model, written from its
definition (xuxw98/ESAM @ 84f70457 / 86759483: ``oneformer3d/query_decoder.py``
``QueryDecoder`` / ``ScanNetMixQueryDecoder``, ``oneformer3d/geo_aware_pool.py``
``GeoAwarePooling``, ``oneformer3d/mixformer3d.py`` ``ScanNet200MixFormer3D``,
``configs/ESAM_CA/ESAM_sv_1xb4_scannet200_CA.py``), not from our modules.

What the definition says (``share_attn_mlp = share_mask_mlp = False``, ``bbox_flag`` False in
the SV config, ``temporal_attn`` False):

* ``pool.pts_proj1`` = Linear(3, C), LayerNorm(C), ReLU, Linear(C, C), LayerNorm(C);
  ``pool.pts_proj2`` = Linear(2C, C), LayerNorm(C), ReLU, Linear(C, 1, bias=False), Sigmoid
  (C = ``channel_proj`` = 96);
* the decoder is OneFormer3D's ``ScanNetQueryDecoder`` (3 layers, 1 instance class, 200
  semantic classes) plus ``input_pts_proj`` = Linear(3 + in, d), LayerNorm(d), ReLU and
  ``x_pts_mask`` = Linear(3 + in, d), ReLU, Linear(d, d); with ``bbox_flag`` also
  ``out_reg`` = Linear(d, d), ReLU, Linear(d, 6).

The online model (``ScanNet200MixFormer3D_Online``, ``configs/ESAM_CA/ESAM_online_scannet200_CA.py``
@ dcdceae3; ``oneformer3d/multilevel_memory.py``, ``oneformer3d/merge_head.py``) adds, with
``bbox_flag=True``:

* ``memory`` = ``MultilevelMemory(in_channels=[32, 64, 128, 256], vmp_layer=(0, 1, 2, 3))``:
  per level i, ``conv_d1[i]`` / ``conv_d3[i]`` = MinkowskiConvolution(C, C, 3, dilation 1 / 3,
  no bias), MinkowskiBatchNorm(C), ReLU and ``conv_convert[i]`` =
  MinkowskiConvolutionTranspose(3C, C, 1, no bias), MinkowskiBatchNorm(C). A Minkowski kernel
  is (kernel volume, in, out), (in, out) for a 1-voxel kernel; MinkowskiBatchNorm holds ``bn``.
* ``merge_head`` = ``MergeHead(256, 256)``: ``net`` = Linear(256, 512), BatchNorm1d(512), ReLU,
  Linear(512, 256), BatchNorm1d(256).
"""
from collections import OrderedDict

from tests.helpers.mask3d_reference import mask3d_res16unet34c_shapes
from tests.helpers.oneformer3d_reference import _linear, _norm, scannet_query_decoder_shapes


def esam_sv_scannet200_shapes(bbox_flag=False, in_channels=96, d_model=256):
    """``{name: shape}`` of ``ScanNet200MixFormer3D``'s state dict (upstream SV CA config)."""
    out = OrderedDict()
    for k, v in mask3d_res16unet34c_shapes(in_channels=3, out_channels=in_channels).items():
        out[f'backbone.{k}'] = v
    c = in_channels
    _linear(out, 'pool.pts_proj1.0', 3, c)
    _norm(out, 'pool.pts_proj1.1', c)
    _linear(out, 'pool.pts_proj1.3', c, c)
    _norm(out, 'pool.pts_proj1.4', c)
    _linear(out, 'pool.pts_proj2.0', 2 * c, c)
    _norm(out, 'pool.pts_proj2.1', c)
    out['pool.pts_proj2.3.weight'] = (1, c)
    dec = scannet_query_decoder_shapes(num_layers=3, in_channels=c, d_model=d_model,
                                       num_instance_classes=1, num_semantic_classes=200)
    d = d_model
    _linear(dec, 'input_pts_proj.0', 3 + c, d)
    _norm(dec, 'input_pts_proj.1', d)
    _linear(dec, 'x_pts_mask.0', 3 + c, d)
    _linear(dec, 'x_pts_mask.2', d, d)
    if bbox_flag:
        _linear(dec, 'out_reg.0', d, d)
        _linear(dec, 'out_reg.2', d, 6)
    for k, v in dec.items():
        out[f'decoder.{k}'] = v
    return out


def _bn(out, name, c):
    for k in ('weight', 'bias', 'running_mean', 'running_var'):
        out[f'{name}.{k}'] = (c,)
    out[f'{name}.num_batches_tracked'] = ()


def esam_online_scannet200_shapes(d_model=256):
    """``{name: shape}`` of ``ScanNet200MixFormer3D_Online``'s state dict (upstream online CA
    config: the SV model with the box branch, memory and merge head)."""
    out = esam_sv_scannet200_shapes(bbox_flag=True, d_model=d_model)
    for i, c in enumerate((32, 64, 128, 256)):
        for branch in ('conv_d1', 'conv_d3'):
            out[f'memory.{branch}.{i}.0.kernel'] = (27, c, c)
            _bn(out, f'memory.{branch}.{i}.1.bn', c)
        out[f'memory.conv_convert.{i}.0.kernel'] = (3 * c, c)
        _bn(out, f'memory.conv_convert.{i}.1.bn', c)
    _linear(out, 'merge_head.net.0', d_model, 512)
    _bn(out, 'merge_head.net.1', 512)
    _linear(out, 'merge_head.net.3', 512, 256)
    _bn(out, 'merge_head.net.4', 256)
    return out
