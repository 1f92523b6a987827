"""tools/convert_checkpoint.py against a state dict written from upstream OneFormer3D's module
definitions (tests/helpers/oneformer3d_reference.py), not from ours: every upstream tensor
lands on our ScanNet200 model, which then loads strictly."""
import argparse
import os.path as osp

import torch
from mmengine.config import Config

from oneformer3d.registry import MODELS
from tests.conftest import REPO, call_tool
from tests.helpers.oneformer3d_reference import oneformer3d_scannet200_shapes

CONFIG = osp.join(REPO, 'configs/oneformer3d/oneformer3d_1xb4_scannet200.py')


def upstream_state(seed=0, shapes=None):
    """A random state dict with the names and shapes of an upstream model (OneFormer3D's
    ScanNet200 model unless ``shapes`` is given)."""
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.tensor(3) if k.endswith('num_batches_tracked')
                else torch.randn(shape, generator=g))
            for k, shape in (shapes or oneformer3d_scannet200_shapes()).items()}


def convert(kind, state, tmp_path, config):
    """``convert_checkpoint.py KIND`` on ``state`` saved as an upstream file; returns the
    tool's output and the converted state dict."""
    src, dst = tmp_path / f'{kind}.pth', tmp_path / 'ours.pth'
    torch.save(dict(state_dict=state), src)
    rc, out = call_tool('convert_checkpoint', kind, str(src), str(dst), '--config', config)
    assert rc == 0, out
    return out, torch.load(dst, weights_only=True)['state_dict']


def test_oneformer3d_checkpoint_converts_and_loads_strictly(tmp_path):
    state = upstream_state()
    src, dst = tmp_path / 'upstream.pth', tmp_path / 'ours.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=512)), src)
    rc, out = call_tool('convert_checkpoint', 'oneformer3d', str(src), str(dst),
                        '--config', CONFIG)
    assert rc == 0, out
    assert 'dropped backbone.final.kernel' in out
    ours = torch.load(dst, weights_only=True)['state_dict']
    assert len(ours) == len(state) - 2                       # final.kernel / final.bias
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.load_state_dict(ours, strict=True)                 # every key, every shape
    sd = model.state_dict()
    torch.testing.assert_close(sd['decoder.layers.4.cross_attn.attn.in_proj_weight'],
                               state['decoder.cross_attn_layers.4.attn.in_proj_weight'])
    torch.testing.assert_close(sd['decoder.layers.1.ffn.net.3.weight'],
                               state['decoder.ffn_layers.1.net.3.weight'])
    torch.testing.assert_close(sd['decoder.cls_head.2.bias'], state['decoder.out_cls.2.bias'])
    torch.testing.assert_close(sd['backbone.block8.1.conv2.kernel'],
                               state['backbone.block8.1.conv2.kernel'])
    # upstream's semantic ids 1 (floor) and 2 (chair) are our 2 and 1; the rest stays
    up = state['decoder.out_sem.weight']
    got = sd['decoder.sem_head.weight']
    torch.testing.assert_close(got[1], up[2])
    torch.testing.assert_close(got[2], up[1])
    torch.testing.assert_close(got[[0, *range(3, 201)]], up[[0, *range(3, 201)]])


def test_unmapped_tensor_and_unsafe_pickle_are_errors(tmp_path):
    state = upstream_state()
    state['decoder.query.weight'] = torch.zeros(4, 256)    # a learnt query set: not ours
    src = tmp_path / 'extra.pth'
    torch.save(dict(state_dict=state), src)
    rc, out = call_tool('convert_checkpoint', 'oneformer3d', str(src), str(tmp_path / 'o.pth'))
    assert rc == 1 and 'decoder.query.weight' in out and 'no mapping' in out
    assert not (tmp_path / 'o.pth').exists()
    src = tmp_path / 'pickled.pth'
    torch.save(dict(state_dict=upstream_state(), meta=argparse.Namespace(x=1)), src)
    rc, out = call_tool('convert_checkpoint', 'oneformer3d', str(src), str(tmp_path / 'o.pth'))
    assert rc == 1 and 'refusing to unpickle' in out


ESAM_CONFIG = osp.join(REPO, 'configs/esam/ESAM_sv_1xb4_scannet200_CA.py')


def test_esam_checkpoint_converts_and_loads_strictly(tmp_path):
    from tests.helpers.esam_reference import esam_sv_scannet200_shapes
    state = upstream_state(1, esam_sv_scannet200_shapes())
    out, ours = convert('esam', state, tmp_path, ESAM_CONFIG)
    assert 'dropped decoder.input_pts_proj.0.weight' in out
    assert len(ours) == len(state) - 2 - 4       # backbone.final, input_pts_proj
    cfg = Config.fromfile(ESAM_CONFIG)
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    model.load_state_dict(ours, strict=True)
    sd = model.state_dict()
    torch.testing.assert_close(sd['pool.pts_proj2.3.weight'], state['pool.pts_proj2.3.weight'])
    torch.testing.assert_close(sd['decoder.x_pts_mask.2.weight'],
                               state['decoder.x_pts_mask.2.weight'])
    torch.testing.assert_close(sd['decoder.layers.2.cross_attn.attn.in_proj_weight'],
                               state['decoder.cross_attn_layers.2.attn.in_proj_weight'])
    up, got = state['decoder.out_sem.weight'], sd['decoder.sem_head.weight']
    torch.testing.assert_close(got[1], up[2])
    torch.testing.assert_close(got[2], up[1])
    # with ESAM's box branch (the online config's bbox_flag) out_reg lands on reg_head
    from oneformer3d.utils.upstream_checkpoint import convert_esam
    boxed = {k: torch.zeros(s) for k, s in esam_sv_scannet200_shapes(bbox_flag=True).items()}
    mapped, _ = convert_esam(boxed)
    assert mapped['decoder.reg_head.2.weight'].shape == (6, 256)


ESAM_ONLINE_CONFIG = osp.join(REPO, 'configs/esam/ESAM_online_scannet200_CA.py')


def test_esam_online_checkpoint_converts_and_loads_strictly(tmp_path):
    from tests.helpers.esam_reference import esam_online_scannet200_shapes
    state = upstream_state(2, esam_online_scannet200_shapes())
    _, ours = convert('esam_online', state, tmp_path, ESAM_ONLINE_CONFIG)
    assert len(ours) == len(state) - 2 - 4       # backbone.final, input_pts_proj
    model = MODELS.build(Config.fromfile(ESAM_ONLINE_CONFIG).model)
    model.load_state_dict(ours, strict=True)
    sd = model.state_dict()
    # ESAM's level i is the encoder output at stride 2^(i+1)
    for i, stride in enumerate((2, 4, 8, 16)):
        torch.testing.assert_close(sd[f'memory.conv_d3.{stride}.0.kernel'],
                                   state[f'memory.conv_d3.{i}.0.kernel'])
        torch.testing.assert_close(sd[f'memory.conv_convert.{stride}.1.bn.running_var'],
                                   state[f'memory.conv_convert.{i}.1.bn.running_var'])
    torch.testing.assert_close(sd['merge_head.mlp.3.weight'], state['merge_head.net.3.weight'])
    torch.testing.assert_close(sd['decoder.reg_head.2.bias'], state['decoder.out_reg.2.bias'])
    # a memory level ESAM does not have is an error, not a silent drop
    state['memory.conv_d1.4.0.kernel'] = torch.zeros(27, 8, 8)
    src = tmp_path / 'extra_level.pth'
    torch.save(dict(state_dict=state), src)
    rc, out = call_tool('convert_checkpoint', 'esam_online', str(src), str(tmp_path / 'x.pth'))
    assert rc == 1 and 'memory.conv_d1.4.0.kernel' in out


def test_esam_transposed_conversion_conv_equals_ours():
    """ESAM's conv_convert is a 1-voxel, stride-1 MinkowskiConvolutionTranspose; ours a
    MinkowskiConvolution with the same (3C, C) kernel: the same output on the same voxels."""
    import MinkowskiEngine as ME
    import numpy as np

    from tests.conftest import data_path
    pts = torch.from_numpy(np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy')))
    coords = torch.unique(torch.floor(pts[::50, :3] / 0.05).int(), dim=0)
    coords = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int), coords], 1)
    g = torch.Generator().manual_seed(0)
    x = ME.SparseTensor(torch.randn(len(coords), 12, generator=g), coordinates=coords)
    theirs = ME.MinkowskiConvolutionTranspose(12, 4, kernel_size=1, stride=1, bias=False,
                                              dimension=3)
    ours = ME.MinkowskiConvolution(12, 4, kernel_size=1, bias=False, dimension=3)
    ours.kernel.data.copy_(theirs.kernel.data)
    a, b = theirs(x), ours(x)
    assert torch.equal(a.C, b.C)
    torch.testing.assert_close(a.F, b.F)
