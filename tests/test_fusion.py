"""2D-3D fusion on the real ScanNet frames: BiFusionEncoder (3D path exact where nothing
projects, gate range, bad maps), the detector's optional slots, the Tiny-SA neck (ball query,
identity start, locality, paramwise key) and PartialLoadHook."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.engine import PartialLoadHook
from oneformer3d.engine.start_state import perturb_zero_parameters
from oneformer3d.models.layers import voxel_ball_query
from oneformer3d.registry import DATASETS, MODELS
from tests.conftest import REPO, call_tool
from tests.helpers.builders import ESAM_CFG, LIGHT, batch_of, sample_cfg

init_default_scope('oneformer3d')
CFG = osp.join(REPO, 'configs', 'esam')


def encode(model, inputs):
    """The bi_encoder's fused voxel features (M, C) and the 3D path ``proj3d(F3) + PE``."""
    from MinkowskiEngine import SparseTensor
    v = inputs['voxels']
    x = SparseTensor(features=v['features'].float(), coordinates=v['coordinates'])
    enc = model.bi_encoder
    fused = enc(x, inputs).F
    return fused, dict(enc.stats)


def test_invalid_projection_takes_exactly_the_3d_path(sv_root):
    """Two real frames; frame 0's camera is shifted (cx + 500 px) so that part of its points
    leave the image and frame 1's camera is turned around (no point projects). Replacing
    the 2D maps by noise changes every voxel that has a valid projection and leaves every
    other voxel bit for bit; a frame without any projection is counted."""
    cfg = sample_cfg('bifusion', **LIGHT)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    perturb_zero_parameters(model)       # as trained: the identity-start zeros have moved
    batch = batch_of(cfg, sv_root, model)
    inputs = batch['inputs']
    cam = inputs['camera']
    cam['intrinsic'][0, 0, 2] += 500.0
    # frame 1's camera turned around its own y axis: every point is behind it
    cam['pose'][1, :3, :3] = cam['pose'][1, :3, :3] @ torch.diag(
        torch.tensor([-1.0, 1.0, -1.0], dtype=cam['pose'].dtype))
    with torch.no_grad():
        fused, stats = encode(model, inputs)
        noisy = dict(inputs, clip_pix=torch.randn_like(inputs['clip_pix']) * 5)
        fused_noise, _ = encode(model, noisy)
    same = (fused == fused_noise).all(1)
    b = inputs['voxels']['coordinates'][:, 0]
    # frame 0: a real mix of voxels inside and outside the shifted image
    assert 0.2 < float(same[b == 0].float().mean()) < 0.9, float(same[b == 0].float().mean())
    assert bool(same[b == 1].all())                     # frame 1: nothing projects
    assert not bool(same.all())
    assert 0.05 < float(stats['valid_ratio']) < 0.5
    assert float(stats['frames_without_projection']) == 1.0
    assert 0.0 <= float(stats['gate_2d']) <= 1.0
    # and the unchanged voxels are exactly the 3D path: proj3d(F3) + GeoPE(xyz)
    enc = model.bi_encoder
    gate = enc.gate
    f3 = torch.randn(5, enc.out_channels)
    out, g = gate(f3, torch.randn(5, enc.out_channels), torch.tensor([1, 0, 1, 0, 0]).bool())
    assert torch.equal(out[1], f3[1]) and not torch.equal(out[0], f3[0])
    assert g.shape == (5,) and bool(((g >= 0) & (g <= 1)).all())


def test_maps_of_another_encoder_or_stride_name_the_file(sv_root):
    for change, words in ((dict(img_channels=192), '3 channels'),
                          (dict(img_stride=8.0), 'stride')):
        cfg = sample_cfg('bifusion', **LIGHT)
        cfg.model.bi_encoder.update(change)
        model = MODELS.build(cfg.model)
        batch = batch_of(cfg, sv_root, model, (0,))
        with pytest.raises(ValueError, match=words) as err:
            model(**batch, mode='loss')
        assert 'clip_feat/scene0000_00/00000.pt' in str(err.value)


def test_absent_slots_are_todays_model_and_exactly_one_encoder(sv_root):
    """``neck=None, bi_encoder=None`` builds the same parameters from the same seed and
    predicts the same on a real frame; a backbone and a bi_encoder together are an error."""
    cfg = sample_cfg('3d', **LIGHT)
    outs = []
    for extra in ({}, dict(neck=None, bi_encoder=None)):
        torch.manual_seed(0)
        model = MODELS.build(dict(cfg.model, **extra)).eval()
        batch = batch_of(cfg, sv_root, model, (0,))
        with torch.no_grad():
            outs.append((model.state_dict(), model(**batch, mode='tensor')))
    assert outs[0][0].keys() == outs[1][0].keys()
    assert all(torch.equal(outs[0][0][k], outs[1][0][k]) for k in outs[0][0])
    torch.testing.assert_close(outs[0][1]['layers'][-1]['masks'][0],
                               outs[1][1]['layers'][-1]['masks'][0], rtol=0, atol=0)
    with pytest.raises(ValueError, match='exactly one of backbone and bi_encoder'):
        MODELS.build(dict(sample_cfg('bifusion').model, backbone=cfg.model.backbone))


def test_bifusion_loss_reaches_every_parameter_and_logs_fusion_stats(sv_root):
    """BiFusion + Tiny-SA on a batch of two real frames: every parameter gets a gradient
    (DDP without find_unused_parameters) and the fusion statistics are logged."""
    cfg = sample_cfg('bifusion', **LIGHT)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # the encoder keeps the U-Net's width (identity start), so neck and decoder load as-is
    assert model.decoder.input_proj[0].in_features == model.neck.out_channels == 96
    batch = batch_of(cfg, sv_root, model)
    losses = model(**batch, mode='loss')
    assert float(losses['fusion_valid_ratio']) > 0.95       # real frames: all project
    assert 0.0 < float(losses['fusion_gate_2d']) < 1.0
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing


def test_tiny_sa_ball_query_identity_start_and_locality(sv_root):
    """On the real frame's voxels: the sorted-key ball query equals brute force; the neck
    starts as the identity (a 3D+Tiny-SA model holding a 3D model's weights predicts exactly
    what it predicts); with non-zero output projections a voxel's output depends on its
    ball only."""
    cfg3d, cfgsa = sample_cfg('3d', **LIGHT), sample_cfg('3dtsa', **LIGHT)
    torch.manual_seed(0)
    model3d = MODELS.build(cfg3d.model).eval()
    modelsa = MODELS.build(cfgsa.model).eval()
    missing = modelsa.load_state_dict(model3d.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith('neck.') for k in missing)
    batch = batch_of(cfg3d, sv_root, model3d, (0,))
    with torch.no_grad():
        a = model3d(**batch, mode='tensor')['layers'][-1]['masks'][0]
        b = modelsa(**batch, mode='tensor')['layers'][-1]['masks'][0]
    assert torch.equal(a, b)
    coords = batch['inputs']['voxels']['coordinates'][:4000]
    index, mask, rel, oid = voxel_ball_query(coords, 2.0, 16)
    d = (coords[:, None, 1:] - coords[None, :, 1:]).float().norm(dim=-1)
    near = (d <= 2.0) & (coords[:, None, 0] == coords[None, :, 0])
    # kept: the occupied neighbours in whole mirror orbits (equal distance and |d|), nearest
    # first, while they fit in 16 (written out over all near pairs)
    i, j = near.nonzero(as_tuple=True)
    dd = (coords[j, 1:] - coords[i, 1:]).long()
    a = dd.abs()
    key = ((dd ** 2).sum(1) * 25 + a[:, 0] * 5 + a[:, 1]) * 5 + a[:, 2]
    groups, cnt = torch.unique(i * 10 ** 6 + key, return_counts=True)   # sorted by (i, key)
    owner = groups // 10 ** 6
    cum = torch.zeros_like(cnt)
    for v in owner.unique():
        sel = owner == v
        cum[sel] = cnt[sel].cumsum(0)
    expected = torch.zeros(len(coords), dtype=torch.long).index_add_(
        0, owner, torch.where(cum <= 16, cnt, 0))
    assert torch.equal(mask.sum(1), expected)
    assert bool((near.sum(1) <= 16).any()) and bool((near.sum(1) > 16).any())
    assert torch.equal(mask.sum(1)[near.sum(1) <= 16], near.sum(1)[near.sum(1) <= 16])
    got = d.gather(1, index)[mask]
    assert float(got.max()) <= 2.0 and torch.equal(index[:, 0], torch.arange(len(coords)))
    # nearest first: the K kept are the K nearest
    kth = torch.where(mask, d.gather(1, index), torch.zeros_like(got[:1])).max(1).values
    outside = torch.where(near, d, torch.full_like(d, 99.0))
    outside.scatter_(1, index, 99.0)
    assert bool((outside.min(1).values >= kth - 1e-6).all())
    # locality with trained-like (non-zero) weights
    from MinkowskiEngine import SparseTensor
    neck = modelsa.neck
    x0 = SparseTensor(features=torch.randn(len(coords), neck.out_channels), coordinates=coords)
    with torch.no_grad():
        assert torch.equal(neck(x0).F, x0.F)          # zero-initialised: exactly the identity
    for layer in neck.layers:
        torch.nn.init.normal_(layer.out_proj.weight, std=0.1)
    x = SparseTensor(features=torch.randn(len(coords), neck.out_channels),
                     coordinates=coords)
    far = int(torch.argmax(d[0]))
    feats2 = x.F.clone()
    feats2[far] += 10.0
    x2 = SparseTensor(features=feats2, coordinates=coords)
    with torch.no_grad():
        y, y2 = neck(x).F, neck(x2).F
    assert not torch.equal(y, x.F) and torch.equal(y[0], y2[0])
    assert not torch.equal(y[far], y2[far])
    # the module (real pairs grouped by neighbour count, per-offset position terms) equals
    # its docstring's formula written out per (voxel, neighbour) on the padded ball query
    for layer in neck.layers:
        torch.nn.init.normal_(layer.ffn[2].weight, std=0.1)
    feats = x.F.clone().requires_grad_(True)
    y = neck(SparseTensor(features=feats, coordinates=coords)).F
    ref = tiny_sa_formula(neck, feats, coords)
    torch.testing.assert_close(y, ref, atol=1e-4, rtol=1e-4)
    weight = torch.randn_like(y)
    params = [feats, *neck.parameters()]
    for a, b in zip(torch.autograd.grad((y * weight).sum(), params),
                    torch.autograd.grad((ref * weight).sum(), params)):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


def tiny_sa_formula(neck, f, coords):
    """``TinySAModule``'s docstring, literally: ``k_ij = W_k LN(f_j) + P(d_ij)``, ``v_ij =
    W_v LN(f_j) + P(d_ij)``, softmax over the (masked) padded neighbours."""
    index, mask, rel, _ = voxel_ball_query(coords, neck.radius, neck.max_neighbors)
    m, k = index.shape
    pos = neck.pos_embed(rel / neck.radius)                        # (M, K, C)
    for layer in neck.layers:
        c, h, d = f.shape[1], layer.h, layer.d
        q, key, val = layer.qkv(layer.norm1(f)).split(c, dim=1)
        kij, vij = (key[index] + pos).view(m, k, h, d), (val[index] + pos).view(m, k, h, d)
        logits = (q.view(m, 1, h, d) * kij).sum(-1) / d ** 0.5
        attn = logits.masked_fill(~mask[..., None], float('-inf')).softmax(1)
        f = f + layer.out_proj((attn[..., None] * vij).sum(1).reshape(m, c))
        f = f + layer.ffn(layer.norm2(f))
    return f


def test_ball_query_cap_keeps_no_preferred_direction_on_a_full_block():
    """A fully occupied 7^3 block (more than 16 voxels within radius 2 of the centre): the
    kept offsets of the centre voxel are symmetric under x -> -x (and y, z), and nearest
    first."""
    r = torch.arange(7)
    grid = torch.stack(torch.meshgrid(r, r, r, indexing='ij'), -1).reshape(-1, 3)
    coords = torch.cat([torch.zeros(len(grid), 1, dtype=torch.long), grid], 1)
    centre = int(((grid == 3).all(1)).nonzero())
    index, mask, rel, _ = voxel_ball_query(coords, 2.0, 16)
    kept = {tuple(v) for v in (grid[index[centre][mask[centre]]] - 3).tolist()}
    for axis in range(3):
        flipped = {tuple(-c if k == axis else c for k, c in enumerate(v)) for v in kept}
        assert flipped == kept
    assert {tuple(v) for v in rel[centre][mask[centre]].long().tolist()} == kept
    lengths = sorted(sum(c * c for c in v) for v in kept)
    assert lengths == [0] + [1] * 6 + [2] * 8        # centre, faces, 8 of the 12 edges


def test_paramwise_key_matches_only_the_tiny_sa_pos_embed():
    from mmengine.optim import build_optim_wrapper
    cfg = sample_cfg('3dtsa', **LIGHT)
    model = MODELS.build(cfg.model)
    assert model.decoder.pos_embed is not None           # the key must not catch it
    cfg.optim_wrapper.optimizer.weight_decay = 0.05      # the sample trains without decay
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = sorted(names[id(p)] for g in wrapper.optimizer.param_groups
                      for p in g['params'] if g['weight_decay'] == 0.0)
    assert no_decay == sorted(n for n, _ in model.named_parameters()
                              if n.startswith('neck.pos_embed.'))


def test_partial_load_hook_maps_the_3d_unet_into_the_bifusion_encoder(tmp_path):
    """A 3D+Tiny-SA checkpoint (saved here from a model we built) -> the BiFusion model's
    ``bi_encoder.backbone3d``: every U-Net tensor loads, nothing else changes; a shape
    mismatch under on_mismatch='error', or a prefix that matches nothing, raises naming the
    file; a resumed run does not load."""
    torch.manual_seed(1)
    src = MODELS.build(sample_cfg('3dtsa', **LIGHT).model)
    ckpt = str(tmp_path / 'iter_1.pth')
    torch.save(dict(meta=dict(iter=1), state_dict=src.state_dict()), ckpt)
    torch.manual_seed(2)
    dst = MODELS.build(sample_cfg('bifusion', **LIGHT).model)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    hook = PartialLoadHook(ckpt, prefix_map={'backbone.': 'bi_encoder.backbone3d.'},
                           on_mismatch='error', max_missing_fraction=0.0)
    report = hook.load(dst)
    unet = {k for k in dst.state_dict() if k.startswith('bi_encoder.backbone3d.')}
    assert set(report.loaded) == unet and not report.missing and not report.mismatched
    after = dst.state_dict()
    for k in after:
        if k in unet:
            assert torch.equal(after[k], src.state_dict()['backbone.' + k[22:]]), k
        else:
            assert torch.equal(after[k], before[k]), k
    # a mapping onto tensors of other shapes (the stem onto the first downsampling conv)
    bad = PartialLoadHook(ckpt, prefix_map={'backbone.conv0p1s1.':
                                            'bi_encoder.backbone3d.conv1p1s2.'},
                          on_mismatch='error')
    with pytest.raises(ValueError, match='shape-mismatched') as err:
        bad.load(dst)
    assert ckpt in str(err.value)
    with pytest.raises(ValueError, match='no tensor'):
        PartialLoadHook(ckpt, prefix_map={'backbone3d.': 'bi_encoder.backbone3d.'}).load(dst)

    class Resumed:
        iter = 5
        model = dst
        logger = __import__('logging').getLogger('test')
    hook.load = None                    # would raise if called
    hook.before_train(Resumed())


# ---------------------------------------------------------------- multi-view
def online_cfg(**cons):
    cfg = Config.fromfile(osp.join(CFG, 'ESAM_online_bifusion_scannet_sample.py'))
    cfg.model.bi_encoder.backbone3d.update(LIGHT)
    cfg.model.clip_cons.update(cons)
    for pipeline in (cfg.train_dataloader.dataset.pipeline,):
        pipeline[0]['num_frames'] = 3     # the sequence's three frames, no padding (faster)
    return cfg


def test_online_bifusion_trains_every_parameter_and_streams(mv_clip_root):
    """The online BiFusion model (memory, merge head, ClipCons with weight 1) on the real
    sequence: every parameter gets a gradient, ClipCons finds cross-frame pairs, and
    streaming inference merges the frames into scene instances."""
    cfg = online_cfg(loss_weight=1.0)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    batch = batch_of(cfg, mv_clip_root, model, (0,))
    assert batch['inputs']['clip_pix'].shape[:3] == (1, 3, 3)
    losses = model(**batch, mode='loss')
    assert float(losses['clip_cons_pairs']) > 100
    assert float(losses['fusion_valid_ratio']) > 0.95
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    model.eval()
    # random weights score below ESAM's inst_score_thr 0.25: keep every top-k instance, so
    # that the merging path runs
    model.test_cfg['score_thr'] = 0.0
    ds = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=mv_clip_root + '/'))
    out = model(**model.data_preprocessor(pseudo_collate([ds[0]])), mode='predict')[0]
    stats = out.metainfo['online_stats']
    assert stats['frames'] == 3 and stats['instances'] > 0
    item = ds[0]['inputs']          # mapped onto the observed part of the scan
    assert out.pred_instances_3d.pts_instance_mask.shape[1] == len(item['scan_points'])


def test_clip_cons_pairs_one_voxel_seen_from_two_frames(mv_clip_root):
    """Frames 0 and 1 of the real sequence through the BiFusion encoder: the pairs are the
    same voxel key in both frames; the RGB-patch 2D features of a pair (one surface patch
    seen twice) agree better than shuffled pairs, so both losses are lower for true pairs;
    weight 0 (the default) is not evaluated in training."""
    from oneformer3d.models.criteria import ClipConsCriterion, match_voxels
    from oneformer3d.models.online.sequence import frame_inputs
    cfg = online_cfg(loss_weight=1.0)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    perturb_zero_parameters(model)       # as trained: proj2d no longer zero
    batch = batch_of(cfg, mv_clip_root, model, (0,))
    inputs, sps = batch['inputs'], batch['data_samples'][0].gt_pts_seg.sp_pts_mask
    frames = []
    with torch.no_grad():
        for t in (0, 1):
            sel = inputs['frame_idx'][0] == t
            fin = frame_inputs(model, [inputs['points'][0][sel]], [sps[sel]], inputs, t, [sel])
            encode(model, fin)
            frames.append(model.bi_encoder.last_voxel_2d)
    (ca, fa, va), (cb, fb, vb) = frames
    ia, ib = match_voxels(ca[va], cb[vb])
    assert len(ia) > 100 and torch.equal(ca[va][ia], cb[vb][ib])
    for mode in ('infonce', 'cosine'):
        crit = ClipConsCriterion(loss_weight=1.0, mode=mode, max_pairs=100000)
        true = float(crit(frames)['loss_clip_cons'])
        perm = torch.randperm(len(cb))
        shuffled = float(crit([frames[0], (cb, fb[perm], vb[perm])])['loss_clip_cons'])
        # InfoNCE: shuffled pairs sit at chance, ln(P); colours repeat across a room, so
        # true pairs gain a margin, not a ratio
        assert (true < shuffled - 0.4) if mode == 'infonce' else (true < 0.8 * shuffled), \
            (mode, true, shuffled)
    losses = MODELS.build(online_cfg().model)(**batch, mode='loss')   # default weight 0
    assert 'loss_clip_cons' not in losses


def test_identity_init_carries_the_unet_features_and_load_rules(sv_root):
    """``identity_init``: on a real frame the encoder's output is the U-Net's output bit for
    bit (proj3d = I, proj2d = 0, residual gate, zero Geo-PE); wider outputs get [I; 0],
    narrower ones are refused. ``load_into_model``: prefix_map renames, zero_pad_keys copies
    the leading slice and zeroes the rest; a pattern that matches nothing or a tensor that
    would shrink raises naming the file."""
    from MinkowskiEngine import SparseTensor
    from oneformer3d.engine.runner import load_into_model
    cfg = sample_cfg('bifusion', **LIGHT)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    batch = batch_of(cfg, sv_root, model, (0,))
    v = batch['inputs']['voxels']
    x = SparseTensor(features=v['features'].float(), coordinates=v['coordinates'])
    with torch.no_grad():
        fused, _ = encode(model, batch['inputs'])
        f3, _ = model.bi_encoder.backbone3d(
            SparseTensor(features=x.F, coordinates=x.C))
    assert torch.equal(fused, f3.F)
    wide = MODELS.build(dict(cfg.model.bi_encoder, out_channels=128))
    assert torch.equal(wide.proj3d.weight, torch.cat([torch.eye(96), torch.zeros(32, 96)]))
    with pytest.raises(ValueError, match='must be >= 96'):
        MODELS.build(dict(cfg.model.bi_encoder, out_channels=64))
    # load rules on the 3D+Tiny-SA state of a 3D model with a stem of 3 input channels
    src = MODELS.build(sample_cfg('3dtsa', **LIGHT).model).state_dict()
    report = load_into_model(model, src, 'parent.pth',
                             prefix_map={'backbone.': 'bi_encoder.backbone3d.'})
    assert not report.unexpected and not report.mismatched
    assert torch.equal(model.state_dict()['bi_encoder.backbone3d.conv0p1s1.kernel'],
                       src['backbone.conv0p1s1.kernel'])
    early = Config.fromfile(osp.join(REPO, 'configs', 'dino',
                                     'ESAM_sv_dino_early_scannet_sample.py'))
    early.model.backbone.update(LIGHT)
    dst = MODELS.build(early.model)
    load_into_model(dst, src, 'parent.pth', zero_pad_keys=['backbone.conv0p1s1.kernel'])
    stem = dst.state_dict()['backbone.conv0p1s1.kernel']
    assert stem.shape[1] == 11 and torch.equal(stem[:, :3], src['backbone.conv0p1s1.kernel'])
    assert not stem[:, 3:].any()
    with pytest.raises(ValueError, match="parent.pth: load_policy zero_pad_keys pattern"):
        load_into_model(dst, src, 'parent.pth', zero_pad_keys=['backbone.stem.*'])
    with pytest.raises(ValueError, match='parent.pth: backbone.conv0p1s1.kernel'):
        load_into_model(MODELS.build(sample_cfg('3d', **LIGHT).model),
                        {'backbone.conv0p1s1.kernel': stem}, 'parent.pth',
                        zero_pad_keys=['backbone.conv0p1s1.kernel'])


def test_forward_check_on_an_online_config(mv_clip_root):
    """tools/check_fusion_forward.py on the online BiFusion sample config (it crashed on the
    per-frame camera tensors): each frame's points project with their own camera and pass the
    depth test against their own sensor depth; --num-samples 0 is refused."""
    config = osp.join(ESAM_CFG, 'ESAM_online_bifusion_scannet_sample.py')
    opts = ['--cfg-options', f'val_dataloader.dataset.data_root={mv_clip_root}/',
            'model.bi_encoder.backbone3d.layers=[1,1,1,1,1,1,1,1]']
    rc, log = call_tool('check_fusion_forward', config, '--num-samples', '1', *opts)
    assert rc == 0 and 'problems=0' in log, log[-3000:]
    line = next(x for x in log.splitlines() if x.startswith('sample 0:'))
    in_image, depth_ok = (float(line.split(k)[1].split()[0]) for k in ('in_image', 'depth_ok'))
    assert in_image > 0.99 and depth_ok > 0.9, line
    rc, log = call_tool('check_fusion_forward', config, '--num-samples', '0', *opts)
    assert rc != 0 and '--num-samples 0: at least one sample' in log
