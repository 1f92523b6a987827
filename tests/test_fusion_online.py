"""The BiFusion encoder's online 2D path on real frames: a frame without a stored map gets
the same map from the encoder that wrote the store (random-init open_clip ViT-S/16 saved to
a local weights file), and ``freeze_blocks`` > 0 trains the encoder's last blocks."""
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope

from oneformer3d.datasets.preprocessing.feature_io import load_feature_file
from oneformer3d.engine.start_state import perturb_zero_parameters
from oneformer3d.datasets.transforms.loading_clip import read_rgb
from oneformer3d.registry import DATASETS, MODELS
from tests.conftest import derive_data_dir, tool_ok
from tests.helpers.builders import LIGHT, batch_of, sample_cfg

init_default_scope('oneformer3d')


@pytest.fixture(scope='module')
def clip_store(sv_frames, tmp_path_factory):
    """SV infos of the three real frames; fp32 maps of a random-init ViT-S/16 (saved to a
    local weights file first) stored for frames 0 and 1, frame 2 missing."""
    import open_clip
    out = derive_data_dir(sv_frames, str(tmp_path_factory.mktemp('fusion_online')))
    torch.manual_seed(0)
    weights = osp.join(out, 'vit_s16.bin')
    torch.save(open_clip.create_model('ViT-S-16').state_dict(), weights)
    tool_ok('extract_2d_features', '--infos',
            osp.join(out, 'scannet_sv_oneformer3d_infos_train_clip.pkl'), '--encoder',
            'OpenClipViT', '--model-name', 'ViT-S-16', '--weights', weights,
            '--short-side', '224', '--compute-dtype', 'fp32', '--store-dtype', 'fp32',
            '--limit', '2', '--workers', '0')
    return out, weights


def online_cfg(weights, freeze_blocks=0):
    cfg = sample_cfg('bifusion', **LIGHT)
    cfg.model.data_preprocessor.online_in_model = True
    cfg.model.bi_encoder.update(
        img_channels=96, img_stride=None, freeze_blocks=freeze_blocks,
        img_encoder=dict(type='OpenClipViT', model_name='ViT-S-16', pretrained=weights,
                         short_side=224))
    if freeze_blocks:
        pipeline = cfg.train_dataloader.dataset.pipeline
        next(t for t in pipeline if t['type'] == 'LoadClipFeature')['always_load_image'] = True
    return cfg


def test_online_map_equals_the_stored_map_after_conv_reduce(clip_store):
    """Frame 0's stored map and the map the model computes from its image agree (mean L2
    per cell after conv_reduce < 1e-3); a batch with the missing frame 2 computes it in the
    model, counts it, and samples it like a stored one."""
    out, weights = clip_store
    cfg = online_cfg(weights)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    enc = model.bi_encoder
    ds = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=out + '/'))
    meta = ds[0]['data_samples'].metainfo
    stored, _, _ = load_feature_file(osp.join(out, 'clip_feat', 'scene0000_00', '00000.pt'))
    img = torch.from_numpy(read_rgb(meta['img_path']).copy()).permute(2, 0, 1)
    with torch.no_grad():
        online = enc.online_map(img, 'frame 0')
        assert online.shape == stored.shape == (96, 28, 38)
        a, b = enc.reduce(stored.float()[None]), enc.reduce(online[None])
    l2 = (a - b).pow(2).sum(1).sqrt().mean()
    assert float(l2) < 1e-3, float(l2)
    assert float(a.pow(2).sum(1).sqrt().mean()) > 0.1          # not two empty maps
    batch = batch_of(cfg, out, model, (0, 2))
    assert batch['inputs']['clip_pix'][1] is None and batch['inputs']['img'][1] is not None
    losses = model.train()(**batch, mode='loss')
    assert float(losses['fusion_online_maps']) >= 1.0
    assert float(losses['fusion_valid_ratio']) > 0.95


def test_freeze_blocks_trains_the_last_blocks_on_every_frame(clip_store):
    """``freeze_blocks=1``: every frame's map is computed online (stored ones too), the last
    transformer block and ln_post get gradients, the earlier blocks stay frozen."""
    out, weights = clip_store
    cfg = online_cfg(weights, freeze_blocks=1)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    perturb_zero_parameters(model)       # as trained: proj2d no longer zero (else no gradient)
    batch = batch_of(cfg, out, model, (0, 1))
    before = model.bi_encoder.online_maps
    losses = model(**batch, mode='loss')
    assert model.bi_encoder.online_maps - before == 2
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    visual = model.bi_encoder.img_encoder.visual
    last, first = visual.transformer.resblocks[-1], visual.transformer.resblocks[0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in last.parameters())
    assert all(p.grad is not None for p in visual.ln_post.parameters())
    assert all(not p.requires_grad and p.grad is None for p in first.parameters())
    with pytest.raises(ValueError, match='needs an img_encoder'):
        MODELS.build(dict(cfg.model, bi_encoder=dict(cfg.model.bi_encoder, img_encoder=None)))


def test_tiny_sa_2d_on_a_real_map_starts_as_identity_and_stays_in_its_window(clip_store):
    """``TinySA2D`` on the stored real map (28 x 38 cells, not a multiple of the 8-cell
    window): the identity at initialisation; with non-zero output projections a change in
    one window leaves the other windows unchanged, and a padded window equals attention over
    its real cells alone."""
    out, _ = clip_store
    stored, _, _ = load_feature_file(osp.join(out, 'clip_feat', 'scene0000_00', '00000.pt'))
    torch.manual_seed(0)
    sa = MODELS.build(dict(type='TinySA2D', channels=96, num_heads=4, window=8)).eval()
    x = stored.float()[None]
    with torch.no_grad():
        assert torch.equal(sa(x), x)
        torch.nn.init.normal_(sa.attn.out_proj.weight, std=0.2)
        y = sa(x)
        x2 = x.clone()
        x2[:, :, 0, 0] += 5.0                         # window (0, 0)
        y2 = sa(x2)
    assert y.shape == x.shape and not torch.equal(y, x)
    assert not torch.equal(y[..., :8, :8], y2[..., :8, :8])
    assert torch.equal(y[..., 8:, :], y2[..., 8:, :]) and torch.equal(y[..., :, 8:], y2[..., :, 8:])
    # a 4 x 8 block is padded to one 8 x 8 window: its output equals attention over its
    # 32 real cells alone (the padded cells are masked out of the keys)
    block = x[..., 24:28, 0:8]
    with torch.no_grad():
        t = block.flatten(2).transpose(1, 2)                   # (1, 32, C), row-major
        n = sa.norm1(t)
        ref = t + sa.attn(n, n, n, need_weights=False)[0]
        ref = ref + sa.ffn(sa.norm2(ref))
        got = sa(block).flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
