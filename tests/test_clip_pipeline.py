"""2D features end to end on real frames: extraction (random-init encoders saved to and loaded
from local weights files), --pack-clip infos, LoadClipFeature, online fallback, per-point
sampling (reprojection < 1 px, nearest-pixel agreement, colour agreement), verify tool."""
import functools
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.datasets import ScanNetSegDataset
from oneformer3d.datasets.preprocessing.feature_io import load_feature_file
from oneformer3d.datasets.transforms import LoadClipFeature
from oneformer3d.engine import DataFallbackHook
from oneformer3d.geometry import backproject_depth, build_uv_index, sample_img_feat
from oneformer3d.models import Det3DDataPreprocessor
from oneformer3d.models.layers import sample_points_img_feat
from tests.conftest import REPO, call_tool, data_path, derive_data_dir

init_default_scope('oneformer3d')
PIPELINE = [dict(type='LoadPointsFromFile'), dict(type='LoadClipFeature'),
            dict(type='Pack3DDetInputs', keys=['points'])]


@pytest.fixture(scope='module')
def sv_clip(sv_frames, tmp_path_factory):
    """SV infos of the three real ScanNet frames with 2D feature paths; RGB-patch features
    stored for the first two frames only (the third is missing on purpose)."""
    with open(osp.join(sv_frames, 'create_data.log')) as fh:
        log = fh.read()
    # paths are written before any extraction
    assert '(3 frames, 0 feature files present)' in log, log
    out = derive_data_dir(sv_frames, str(tmp_path_factory.mktemp('sv_clip')))
    clip_infos = osp.join(out, 'scannet_sv_oneformer3d_infos_train_clip.pkl')
    rc, log = call_tool('extract_2d_features', '--infos', clip_infos, '--encoder',
                        'RGBPatchEncoder', '--limit', '2', '--workers', '0', '--vis', '1')
    assert rc == 0, log
    return out, clip_infos


def test_pack_clip_paths_and_loading(sv_clip):
    out, clip_infos = sv_clip
    with open(clip_infos, 'rb') as fh:
        infos = pickle.load(fh)['data_list']
    assert [i['clip_feat_path'] for i in infos] == [
        f'clip_feat/scene0000_00/{f}.pt' for f in ('00000', '00011', '00102')]
    ds = ScanNetSegDataset(data_root=out, ann_file=osp.basename(clip_infos), pipeline=PIPELINE)
    items = [ds[i] for i in range(3)]
    flags = [it['data_samples'].metainfo['clip_missing'] for it in items]
    assert flags == [False, False, True]
    pix = items[0]['inputs']['clip_pix']
    assert pix.dtype == torch.float16 and pix.shape == (3, 60, 80)   # 968x1296 -> 480x640 input / 8
    assert items[0]['data_samples'].metainfo['img_shape'] == (968, 1296)
    assert items[2]['inputs']['img'].shape == (3, 968, 1296)           # for online computation
    # the epoch hook counts the fallback from the packed flags (works with any workers)
    hook = DataFallbackHook()
    hook.after_train_iter(None, 0, pseudo_collate(items))
    assert hook.counts[('train', 'clip_missing')] == (1, 3)


def test_point_features_match_colours_and_nearest_pixel(sv_clip):
    """RGB-patch features sampled at the points must reproduce the points' colours (the points
    were coloured from the same images); the third frame's map is computed online."""
    out, clip_infos = sv_clip
    ds = ScanNetSegDataset(data_root=out, ann_file=osp.basename(clip_infos), pipeline=PIPELINE)
    batch = pseudo_collate([ds[i] for i in range(3)])
    with pytest.raises(RuntimeError, match='00102.pt: no stored 2D features'):
        Det3DDataPreprocessor()(batch)
    pre = Det3DDataPreprocessor(img_encoder=dict(type='RGBPatchEncoder'))
    data = pre(batch)
    assert pre.online_computed == 1
    inputs = data['inputs']
    assert inputs['clip_pix'].shape == (3, 3, 60, 80)
    feats, valid = sample_points_img_feat(inputs['points'], inputs['clip_pix'], inputs['camera'])
    for pts, f, ok in zip(inputs['points'], feats, valid):
        assert ok.float().mean() > 0.99
        err = (f[ok] * 255 - pts[ok, 3:]).abs().mean()
        shuffled = (f[ok] * 255 - pts[ok][torch.randperm(int(ok.sum())), 3:]).abs().mean()
        assert err < 0.3 * shuffled, (err, shuffled)   # measured ~11-14 vs ~58-72
    # nearest sampling returns exactly the cell the point's pixel falls in
    cam = inputs['camera']
    pts = inputs['points'][0]
    uv, ok = build_uv_index(pts, cam['intrinsic'][0], cam['pose'][0], (968, 1296))
    near, ok2 = sample_img_feat(inputs['clip_pix'][0], uv, (968, 1296), valid=ok,
                                mode='nearest')
    fu, fv = (uv[:, 0] + 0.5) / (1296 / 80), (uv[:, 1] + 0.5) / (968 / 60)  # px per cell
    col, row = torch.floor(fu).long(), torch.floor(fv).long()
    # exclude points within 1e-3 cells of a cell boundary (float ties)
    clear = ok2 & ((fu - fu.round()).abs() > 1e-3) & ((fv - fv.round()).abs() > 1e-3)
    gathered = inputs['clip_pix'][0][:, row[clear], col[clear]].T
    torch.testing.assert_close(near[clear], gathered)


def test_projection_undoes_augmentations(sv_clip):
    """Rotated/scaled/flipped points sample the same features as the original ones."""
    out, clip_infos = sv_clip
    pipe = [dict(type='LoadPointsFromFile'), dict(type='LoadClipFeature'),
            dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14],
                 scale_ratio_range=[0.8, 1.2], translation_std=[0.1, 0.1, 0.1]),
            dict(type='RandomFlip3D', flip_ratio_bev_horizontal=1.0,
                 flip_ratio_bev_vertical=1.0),
            dict(type='Pack3DDetInputs', keys=['points'])]
    plain = ScanNetSegDataset(data_root=out, ann_file=osp.basename(clip_infos),
                              pipeline=PIPELINE)[0]
    aug = ScanNetSegDataset(data_root=out, ann_file=osp.basename(clip_infos), pipeline=pipe)[0]
    assert not torch.allclose(plain['inputs']['points'][:, :3], aug['inputs']['points'][:, :3])
    pre = Det3DDataPreprocessor()
    ref, ref_ok = sample_points_img_feat(**_sampler_args(pre(pseudo_collate([plain]))))
    got, got_ok = sample_points_img_feat(**_sampler_args(pre(pseudo_collate([aug]))))
    assert (ref_ok[0] == got_ok[0]).float().mean() > 0.999
    both = ref_ok[0] & got_ok[0]
    torch.testing.assert_close(got[0][both], ref[0][both], atol=2e-3, rtol=0)
    cam = pre(pseudo_collate([aug]))['inputs']['camera']
    cam['aug_matrix'] = torch.eye(4, dtype=torch.float64)[None]      # forgetting to undo: wrong
    wrong, wrong_ok = sample_points_img_feat(aug['inputs']['points'][None],
                                             pre(pseudo_collate([aug]))['inputs']['clip_pix'],
                                             cam)
    assert wrong_ok[0].float().mean() < 0.5 or \
        (wrong[0] - ref[0]).abs()[wrong_ok[0] & ref_ok[0]].mean() > 0.05


def _sampler_args(data):
    inputs = data['inputs']
    return dict(points=inputs['points'], img_feats=inputs['clip_pix'], camera=inputs['camera'])


def test_reprojection_error_below_one_pixel():
    """7-Scenes frame 0: back-projected depth pixels re-project onto themselves (< 1 px)."""
    root = data_path('sevenscenes', 'redkitchen')
    from PIL import Image
    depth = np.asarray(Image.open(osp.join(root, 'frame-000000.depth.png')), np.float32)
    depth[depth >= 65535] = 0
    pose = np.loadtxt(osp.join(root, 'frame-000000.pose.txt'))
    k = np.loadtxt(osp.join(root, 'camera-intrinsics.txt'))
    pts, pix = backproject_depth(depth / 1000, k, pose)
    uv, ok = build_uv_index(pts, k, pose, depth.shape)
    err = (uv - torch.from_numpy(pix).float()).norm(dim=1)
    assert ok.all() and err.max() < 1.0


def test_extraction_with_local_weights_files(tmp_path):
    """open_clip ViT (final-layer grid + PixelShuffle(2)) and timm DINOv2, random init saved to
    local files and loaded by the tool, on real ScanNet and 7-Scenes frames; resumable; the
    verify tool passes and then catches a corrupt file. The tools' ``main`` runs in this
    process (the other extraction tests run them as commands)."""
    import open_clip
    import safetensors.torch
    import timm
    clip_w = str(tmp_path / 'vit_s16.bin')
    clip_model = open_clip.create_model('ViT-S-16')
    torch.save(clip_model.state_dict(), clip_w)
    dino_w = str(tmp_path / 'dinov2_s14.safetensors')
    dino = timm.create_model('vit_small_patch14_dinov2', num_classes=0, dynamic_img_size=True)
    safetensors.torch.save_file(dino.state_dict(), dino_w)
    scannet = osp.join(data_path('scannet', 'posed', 'posed_images', 'scene0000_00'), '*.jpg')
    kitchen = osp.join(data_path('sevenscenes', 'redkitchen'), 'frame-00000*.color.jpg')
    out = str(tmp_path / 'feats')
    extract = functools.partial(call_tool, 'extract_2d_features')
    rc, log = extract('--images', scannet, kitchen, '--out-root', out, '--encoder',
                      'OpenClipViT', '--model-name', 'ViT-S-16', '--weights', clip_w,
                      '--short-side', '224', '--workers', '0')
    assert rc == 0 and 'written=4' in log and 'ScanNet v2 at every 20th frame' in log, log
    pix, glob, meta = load_feature_file(osp.join(out, 'clip_feat', 'scene0000_00', '00000.pt'))
    # ViT-S/16 width 384 -> PixelShuffle(2) -> 96 channels at stride 8 of the 224x304 input
    assert pix.dtype == torch.float16 and pix.shape == (96, 28, 38) and glob.shape == (384,)
    assert meta['encoder'] == 'OpenClipViT' and meta['layer'] == 'final'
    np.testing.assert_allclose(meta['stride'], [1296 / 38, 968 / 28])
    # the tool loaded the file: its output equals the saved model's own computation
    from oneformer3d.models import OpenClipViT
    enc = OpenClipViT('ViT-S-16', pretrained=clip_w, short_side=224)
    assert torch.equal(enc.visual.conv1.weight, clip_model.visual.conv1.weight)
    rc, log = extract('--images', scannet, '--out-root', out, '--encoder', 'OpenClipViT',
                      '--model-name', 'ViT-S-16', '--weights', clip_w, '--short-side', '224',
                      '--workers', '0')
    assert rc == 0 and 'written=0 skipped_existing=3' in log, log
    rc, log = extract('--images', kitchen, '--out-root', out, '--feat-dir', 'dino_feat',
                      '--encoder', 'DINOv2', '--model-name', 'vit_small_patch14_dinov2',
                      '--weights', dino_w, '--short-side', '224', '--workers', '0')
    assert rc == 0 and 'written=1' in log, log
    pix, _, meta = load_feature_file(osp.join(out, 'dino_feat', 'redkitchen',
                                              'frame-000000.color.pt'))
    assert pix.shape == (384, 16, 21) and meta['encoder'] == 'DINOv2'
    rc, log = call_tool('verify_saved_features', osp.join(out, 'clip_feat'))
    assert rc == 0 and 'corrupt=0' in log, log
    bad = osp.join(out, 'clip_feat', 'scene0000_00', '00011.pt')
    with open(bad, 'r+b') as fh:
        fh.truncate(os.path.getsize(bad) // 2)
    rc, log = call_tool('verify_saved_features', osp.join(out, 'clip_feat'))
    assert rc == 1 and '00011.pt: unreadable feature file' in log, log
    # a re-run redoes the truncated file instead of counting it as done ...
    rc, log = extract('--images', scannet, '--out-root', out, '--encoder', 'OpenClipViT',
                      '--model-name', 'ViT-S-16', '--weights', clip_w, '--short-side', '224',
                      '--workers', '0')
    assert rc == 0 and 'written=1 skipped_existing=2 redone_incomplete=1' in log, log
    assert load_feature_file(bad)[0].shape == (96, 28, 38)
    # ... and refuses a folder of another encoder's maps (the cache is keyed by its maker)
    with pytest.raises(ValueError, match=r'00000.pt: stored by OpenClipViT with 96 channels, '
                                         r'DINOv2 with 384 was asked'):
        extract('--images', scannet, '--out-root', out, '--encoder', 'DINOv2', '--model-name',
                'vit_small_patch14_dinov2', '--weights', dino_w, '--short-side', '224',
                '--workers', '0')
    rc, log = extract('--images', scannet, '--out-root', out, '--encoder', 'DINO')
    assert rc != 0 and '--encoder DINO: not a registered 2D encoder; known: DINOv2, DINOv3' in log
    with pytest.raises(FileNotFoundError, match='nothere.bin: weights file'):
        OpenClipViT('ViT-S-16', pretrained=str(tmp_path / 'nothere.bin'))
    for name, write in (('half.safetensors', dino_w), ('half.bin', clip_w)):
        data = open(write, 'rb').read()
        with open(tmp_path / name, 'wb') as fh:
            fh.write(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r'half.bin: not a readable weights file for '
                                         r'open_clip ViT-S-16 .*do not turn weights-only loading off'):
        OpenClipViT('ViT-S-16', pretrained=str(tmp_path / 'half.bin'))
    from oneformer3d.models import DINOv2
    with pytest.raises(ValueError, match=r'half.safetensors: not a readable weights file for '
                                         r'timm vit_small_patch14_dinov2'):
        DINOv2('vit_small_patch14_dinov2', pretrained=str(tmp_path / 'half.safetensors'))


def test_dinov3_and_dinov2_route_defaults_on_a_real_frame(tmp_path):
    """DINOv3 (timm ``vit_*_patch16_dinov3``, random init saved to a local file) has the
    DINOv2 interface on a real 640x480 ScanNet frame: the whole frame at its own size (30x40
    tokens, stride 16 both ways), the loaded file's weights, class and register tokens
    dropped; an unknown name is a clear error. DINOv2's defaults are the DITR route's
    (ViT-L/14 on the whole frame, exactly 4:3: 462x616)."""
    import safetensors.torch
    import timm
    from PIL import Image
    from oneformer3d.models import DINOv2, DINOv3
    from oneformer3d.models.img_encoders import input_size_for
    w = str(tmp_path / 'dinov3_s16.safetensors')
    ref = timm.create_model('vit_small_patch16_dinov3', num_classes=0, dynamic_img_size=True)
    safetensors.torch.save_file(ref.state_dict(), w)
    enc = DINOv3('vit_small_patch16_dinov3', pretrained=w)
    img = np.array(Image.open(osp.join(data_path('scannet', 'posed', 'posed_images',
                                                   'scene0000_00'), '00000.jpg')).convert('RGB'))
    img = torch.from_numpy(img).permute(2, 0, 1)[None]
    img = torch.nn.functional.interpolate(img.float(), size=(480, 640), mode='area')
    img = img.round().clamp(0, 255).to(torch.uint8)
    out = enc(img)
    assert out['pix'].shape == (1, 384, 30, 40) and out['global'].shape == (1, 384)
    meta = enc.meta((480, 640), out['pix'].shape[-2:])
    assert meta['input_size'] == [480, 640] and meta['stride'] == [16.0, 16.0]
    with torch.no_grad():
        tokens = ref.eval().forward_features(enc.preprocess(img))
    assert ref.num_prefix_tokens == 5
    torch.testing.assert_close(out['pix'][0, :, 0, 0], tokens[0, 5])
    torch.testing.assert_close(out['global'][0], tokens[0, 0])
    with pytest.raises(ValueError, match="no model 'vit_tiny_patch16_dinov3'.*dinov3"):
        DINOv3('vit_tiny_patch16_dinov3')
    sig = __import__('inspect').signature(DINOv2).parameters
    assert sig['model_name'].default == 'vit_large_patch14_dinov2'
    h, w_ = input_size_for((480, 640), sig['short_side'].default, 14)
    assert (h, w_) == (462, 616) and h * 4 == w_ * 3


def test_corrupt_feature_file_is_an_error_not_a_fallback(sv_clip, tmp_path):
    out, clip_infos = sv_clip
    ds = ScanNetSegDataset(data_root=out, ann_file=osp.basename(clip_infos), pipeline=PIPELINE)
    info = ds.get_data_info(0)
    bad = str(tmp_path / 'bad.pt')
    torch.save({'pix': torch.full((3, 4, 4), float('nan'))}, bad)
    info['clip_feat_path'] = bad
    with pytest.raises(ValueError, match='bad.pt: features contain NaN'):
        LoadClipFeature()(info)


def test_clip_dataset_config_loads_features(sv_clip):
    """The _base_ dataset config for fusion models, pointed at the prepared frames."""
    from mmengine.config import Config

    from oneformer3d.registry import DATASETS
    out, _ = sv_clip
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/datasets/scannet200_sv_clip.py'))
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.update(type='ScanNetSegDataset', data_root=out,
                  ann_file='scannet_sv_oneformer3d_infos_val_clip.pkl')
    item = DATASETS.build(ds_cfg)[0]
    assert item['inputs']['clip_pix'].shape == (3, 60, 80)
    assert item['data_samples'].metainfo['clip_stride'] == (1296 / 80, 968 / 60)


def test_bare_tensor_and_multi_view_lists(sv_clip, tmp_path):
    """A bare (C, H, W) tensor file loads with the stride taken from the image size; MV infos
    give per-frame lists in frame order, a missing frame marked in place."""
    out, clip_infos = sv_clip
    with open(clip_infos, 'rb') as fh:
        infos = pickle.load(fh)['data_list']
    imgs = [osp.join(out, i['img_path']) for i in infos]
    bare = str(tmp_path / 'bare.pt')
    torch.save(torch.rand(3, 22, 30), bare)   # same width as the stored maps
    stored = osp.join(out, infos[0]['clip_feat_path'])
    results = LoadClipFeature()(dict(img_paths=imgs[:3], clip_feat_paths=[
        stored, bare, str(tmp_path / 'missing.pt')]))
    assert results['clip_missing'] == [False, False, True]
    assert results['clip_pix'][0].shape == (3, 60, 80) and results['clip_pix'][2] is None
    assert results['clip_stride'][1] == (1296 / 30, 968 / 22)
    assert results['img'][0] is None and results['img'][2].shape == (968, 1296, 3)


def test_mv_samples_sample_their_own_frames_features(mv_clip_root):
    """MV infos of the real scene0000_00 sequence with stored RGB-patch features: the
    preprocessor stacks per-frame maps and cameras (poses (B, T, 4, 4), the shared intrinsic
    broadcast), every frame's points sample their own frame's colours, and the online
    per-frame split hands frame t exactly its map and camera."""
    from mmengine.config import Config
    from oneformer3d.models.online.sequence import frame_inputs
    from oneformer3d.registry import DATASETS, MODELS
    out = mv_clip_root
    clip_infos = osp.join(out, 'scannet_mv_oneformer3d_infos_train_clip.pkl')
    ds = DATASETS.build(dict(
        type='ScanNetSegMVDataset', data_root=out, ann_file=osp.basename(clip_infos),
        pipeline=[dict(type='LoadAdjacentDataFromFile', num_frames=-1),
                  dict(type='LoadClipFeature'), dict(type='PointSegClassMapping'),
                  dict(type='PointInstClassMapping'), dict(type='Pack3DDetInputs')]))
    item = ds[0]
    assert item['data_samples'].metainfo['clip_missing'] == [False] * 3
    data = Det3DDataPreprocessor()(pseudo_collate([item]))
    inputs = data['inputs']
    cam = inputs['camera']
    assert inputs['clip_pix'].shape == (1, 3, 3, 60, 80)
    assert cam['pose'].shape == (1, 3, 4, 4) and cam['intrinsic'].shape == (1, 3, 3, 3)
    pts, fidx = inputs['points'][0], inputs['frame_idx'][0]

    def colour_error(points, feats, ok):
        err = (feats[ok] * 255 - points[ok, 3:]).abs().mean()
        shuffled = (feats[ok] * 255 - points[ok][torch.randperm(int(ok.sum())), 3:]).abs().mean()
        return float(err), float(shuffled)
    cfg = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_online_3d_scannet_sample.py'))
    model = MODELS.build(cfg.model)
    sps = item['data_samples'].gt_pts_seg.sp_pts_mask
    for t in range(3):
        sel = fidx == t
        fin = frame_inputs(model, [pts[sel]], [sps[sel]], inputs, t, [sel])
        assert fin['clip_pix'].shape == (1, 3, 60, 80)
        torch.testing.assert_close(fin['clip_pix'][0], inputs['clip_pix'][0, t])
        torch.testing.assert_close(fin['camera']['pose'][0], cam['pose'][0, t])
        feats, valid = sample_points_img_feat(fin['points'], fin['clip_pix'], fin['camera'])
        err, shuffled = colour_error(pts[sel], feats[0], valid[0])
        assert valid[0].float().mean() > 0.95 and err < 0.3 * shuffled, (t, err, shuffled)
        # another frame's camera does not fit these points (the split matters)
        other = frame_inputs(model, [pts[sel]], [sps[sel]], inputs, (t + 1) % 3, [sel])
        f2, v2 = sample_points_img_feat(fin['points'], other['clip_pix'], other['camera'])
        if v2[0].sum() > 100:
            assert colour_error(pts[sel], f2[0], v2[0])[0] > err
