"""The DINO pyramid injector (DITR-style) on real frames: levels on the encoder's coordinate
maps, zero-initialised identity from a 3D checkpoint (both injection points), voxels without
a valid projection."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from oneformer3d.registry import MODELS
from tests.conftest import REPO
from tests.helpers.builders import LIGHT, batch_of, sample_cfg

init_default_scope('oneformer3d')


def dino_cfg(inject_at='upsampled'):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dino',
                                   'ESAM_sv_dino_fpn_inject_scannet_sample.py'))
    cfg.model.backbone.update(LIGHT)
    cfg.model.injector.inject_at = inject_at
    return cfg


def test_pyramid_levels_are_the_encoder_tensors_maps(sv_root):
    """Each level's coordinate map is the encoder's at that stride: same key, same
    coordinates in the same rows, ``tensor_stride`` = the stride."""
    import MinkowskiEngine as ME
    cfg = dino_cfg()
    model = MODELS.build(cfg.model).eval()
    batch = batch_of(cfg, sv_root, model)
    v = batch['inputs']['voxels']
    x = ME.SparseTensor(features=v['features'].float(), coordinates=v['coordinates'])
    levels = model.injector.prepare(x, batch['inputs'])
    seen = {}

    def probe(point, stride, t):
        if point == 'encoder':
            seen[stride] = t
        return t
    with torch.no_grad():
        model.backbone(x, injector=probe)
    assert sorted(levels) == [1, 2, 4, 8]
    assert levels[1].coordinate_map_key == x.coordinate_map_key
    for s in (2, 4, 8):
        assert levels[s].coordinate_map_key == seen[s].coordinate_map_key
        assert torch.equal(levels[s].C, seen[s].C) and levels[s].tensor_stride == [s] * 3
    assert float(model.injector.stats['valid_ratio']) > 0.95


@pytest.mark.parametrize('inject_at', ['upsampled', 'skip'])
def test_zero_init_equals_the_3d_model_then_injection_acts(sv_root, inject_at):
    """A DINO-FPN model holding a 3D model's weights predicts exactly what the 3D model
    predicts; with non-zero projections the prediction changes (the features arrive)."""
    cfg3d, cfg = sample_cfg('3d', **LIGHT), dino_cfg(inject_at)
    torch.manual_seed(0)
    model3d = MODELS.build(cfg3d.model).eval()
    model = MODELS.build(cfg.model).eval()
    missing = model.load_state_dict(model3d.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith('injector.') for k in missing)
    widths = (model.backbone.skip_channels() if inject_at == 'skip'
              else model.backbone.decoder_channels())
    assert {s: model.injector.proj[str(s)].out_features for s in (8, 4, 2, 1)} == widths
    batch = batch_of(cfg, sv_root, model, (0,))
    with torch.no_grad():
        a = model3d(**batch, mode='tensor')['layers'][-1]['masks'][0]
        b = model(**batch, mode='tensor')['layers'][-1]['masks'][0]
        assert torch.equal(a, b)
        for lin in model.injector.proj.values():
            torch.nn.init.normal_(lin.weight, std=0.5)
        c = model(**batch, mode='tensor')['layers'][-1]['masks'][0]
    assert not torch.equal(a, c)


@pytest.mark.parametrize('pool', ['max', 'mean'])
def test_voxels_without_projection_are_zero_and_never_win_the_max(sv_root, pool):
    """Frame 0's camera shifted (cx + 500 px) and its maps negated (every feature < 0): at
    every level a voxel with a validly projected point below it is negative (the invalid
    zeros did not win the max, nor enter the mean), a voxel with none is exactly 0."""
    import MinkowskiEngine as ME
    cfg = dino_cfg()
    cfg.model.injector.pool = pool
    model = MODELS.build(cfg.model).eval()
    batch = batch_of(cfg, sv_root, model, (0,))
    inputs = dict(batch['inputs'])
    inputs['camera']['intrinsic'][0, 0, 2] += 500.0
    inputs['clip_pix'] = -inputs['clip_pix'] - 0.01
    v = inputs['voxels']
    x = ME.SparseTensor(features=v['features'].float(), coordinates=v['coordinates'])
    levels = model.injector.prepare(x, inputs)
    ratio = float(model.injector.stats['valid_ratio'])
    assert 0.1 < ratio < 0.9
    for s, t in levels.items():
        zero = (t.F == 0).all(1)
        assert bool(((t.F < 0).all(1) | zero).all()), s
        assert 0 < float(zero.float().mean()) < 1, s
    if pool == 'mean':     # stride 2 = the mean over the valid stride-1 children only
        one, two = levels[1], levels[2]
        parent = torch.div(one.C[:, 1:], 2, rounding_mode='floor') * 2
        keys = torch.cat([one.C[:, :1], parent], 1)
        ok = (one.F != 0).any(1)
        rows = {tuple(k.tolist()): i for i, k in enumerate(two.C)}
        idx = torch.tensor([rows[tuple(k.tolist())] for k in keys])
        total = torch.zeros_like(two.F).index_add_(0, idx[ok], one.F[ok])
        n = torch.zeros(len(two.F)).index_add_(0, idx[ok], torch.ones(int(ok.sum())))
        torch.testing.assert_close(two.F, total / n.clamp(min=1)[:, None], rtol=1e-5,
                                   atol=1e-6)


def test_forward_check_reports_and_exits_1_on_a_nan(sv_root, tmp_path):
    """``tools/check_fusion_forward.py`` on the DINO-FPN sample config: projection rates,
    pyramid sizes per stride and exit 0 on the real store; with a checkpoint holding a NaN
    weight the non-finite module is named and the exit status is 1."""
    import contextlib
    import importlib.util
    import io
    tool = osp.join(REPO, 'tools', 'check_fusion_forward.py')
    spec = importlib.util.spec_from_file_location('check_fusion_forward', tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = osp.join(REPO, 'configs', 'dino', 'ESAM_sv_dino_fpn_inject_scannet_sample.py')

    def check(*extra):          # in-process: (exit status, stdout)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = module.main([config, '--num-samples', '2', *extra, '--cfg-options',
                              f'val_dataloader.dataset.data_root={sv_root}/',
                              'model.backbone.layers=[1,1,1,1,1,1,1,1]'])
        return rc, out.getvalue()
    rc, out = check()
    assert rc == 0, out
    assert 'in_image 1.000' in out and 'pyramid s1:' in out
    assert '@8' in out and 'problems=0' in out
    model = MODELS.build(dino_cfg().model)
    state = model.state_dict()
    # a checkpoint whose weights overflow in the forward: the non-finite module is named
    state['injector.proj.8.weight'][:] = 3e38
    ckpt = str(tmp_path / 'overflow.pth')
    torch.save(dict(state_dict=state), ckpt)
    rc, out = check('--checkpoint', ckpt)
    assert rc == 1, out
    assert 'NON-FINITE at injector' in out and 'problems=1' in out
    # a diverged checkpoint (NaN weight) is refused at load, naming it
    state['injector.proj.8.weight'][0, 0] = float('nan')
    torch.save(dict(state_dict=state), ckpt)
    with pytest.raises(ValueError, match='overflow.pth: non-finite weights: '
                                         'injector.proj.8.weight holds 1 NaN/Inf'):
        check('--checkpoint', ckpt)
    # another config's checkpoint (no injector): strict like tools/test.py, partial on a flag
    partial = str(tmp_path / 'no_injector.pth')
    torch.save(dict(state_dict={k: v for k, v in model.state_dict().items()
                                if not k.startswith('injector.')}), partial)
    with pytest.raises(ValueError, match=r'strict loading needs every key to match'):
        check('--checkpoint', partial)
    rc, out = check('--checkpoint', partial, '--allow-partial-load')
    assert rc == 0 and re.search(r'partial load: \d+% of the weights keep their random', out)


def test_dino_early_concatenates_reduced_features_at_the_input(sv_root):
    """DINO-early on a real frame: the stem sees 3 + 8 channels, the extra ones are the
    reduced per-voxel features (0 where nothing projects), and the loss reaches the
    reduction."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dino',
                                   'ESAM_sv_dino_early_scannet_sample.py'))
    cfg.model.backbone.update(LIGHT)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    batch = batch_of(cfg, sv_root, model, (0,))
    batch['inputs']['camera']['intrinsic'][0, 0, 2] += 500.0     # part of the frame invalid
    seen = {}

    def stem_input(_module, inp, _out):
        seen.setdefault('x', inp[0].F.detach().clone())
    model.backbone.conv0p1s1.register_forward_hook(stem_input)
    losses = model(**batch, mode='loss')
    x = seen['x']
    assert x.shape[1] == 11
    level = model.injector.levels[1].F
    torch.testing.assert_close(x[:, 3:], model.injector.reduce(level).detach())
    invalid = (level == 0).all(1)
    assert 0 < float(invalid.float().mean()) < 1
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert model.injector.reduce.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('route', ['fpn_inject', 'early'])
def test_voxels_without_projection_follow_the_3d_path_after_training(sv_root, route):
    """After three AdamW steps on the real frame (every weight non-zero, the injector's
    included), a frame whose camera is turned around (no point projects) is predicted as the
    3D model with the same weights predicts it — exactly for DINO-FPN (a bias-free projection
    of 0 adds 0), up to summation order for DINO-early (the 3D model's stem is the colour
    slice of the grown stem) — and on a partly projecting frame the injected features of the
    voxels without a projection are exactly 0."""
    import MinkowskiEngine as ME
    from oneformer3d.engine.start_state import perturb_zero_parameters
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dino',
                                   f'ESAM_sv_dino_{route}_scannet_sample.py'))
    cfg.model.backbone.update(LIGHT)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    perturb_zero_parameters(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        batch = batch_of(cfg, sv_root, model, (0,))
        losses = model(**batch, mode='loss')
        opt.zero_grad()
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        opt.step()
    assert not any(n.endswith('bias') for n, _ in model.injector.named_parameters())
    model.eval()
    # a partly projecting frame: what the injector adds / concatenates at invalid voxels
    batch = batch_of(cfg, sv_root, model, (0,))
    inputs = batch['inputs']
    inputs['camera']['intrinsic'][0, 0, 2] += 500.0
    v = inputs['voxels']
    x = ME.SparseTensor(features=v['features'].float(), coordinates=v['coordinates'])
    with torch.no_grad():
        level = model.injector.prepare(x, inputs)[1]
        invalid = (level.F == 0).all(1)
        assert 0 < float(invalid.float().mean()) < 1
        if route == 'early':
            added = model.injector('input', 1, x).F[:, 3:]
        else:
            up = ME.SparseTensor(features=torch.randn(len(x.F), model.injector.proj['1']
                                                      .out_features),
                                 coordinate_map_key=x.coordinate_map_key,
                                 coordinate_manager=x.coordinate_manager)
            added = model.injector('upsampled', 1, up).F - up.F
        assert bool((added[invalid] == 0).all()) and bool((added[~invalid] != 0).any())
    # a frame with no projection at all: the 3D model with the same weights
    cfg3d = sample_cfg('3d', **LIGHT)
    model3d = MODELS.build(cfg3d.model).eval()
    state = {k: t for k, t in model.state_dict().items() if not k.startswith('injector.')}
    if route == 'early':
        state['backbone.conv0p1s1.kernel'] = state['backbone.conv0p1s1.kernel'][:, :3]
    model3d.load_state_dict(state, strict=True)
    batch = batch_of(cfg, sv_root, model, (0,))
    cam = batch['inputs']['camera']
    cam['pose'][0, :3, :3] = cam['pose'][0, :3, :3] @ torch.diag(
        torch.tensor([-1.0, 1.0, -1.0], dtype=cam['pose'].dtype))
    with torch.no_grad():
        a = model(**batch, mode='tensor')['layers'][-1]
        b = model3d(**batch, mode='tensor')['layers'][-1]
    assert float(model.injector.stats['valid_ratio']) == 0.0
    for key in ('cls', 'masks'):
        if route == 'early':
            torch.testing.assert_close(a[key][0], b[key][0], rtol=1e-5, atol=1e-4)
        else:
            assert torch.equal(a[key][0], b[key][0]), key
