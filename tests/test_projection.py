"""oneformer3d.geometry.projection on the shared real data: ScanNet colour agreement, SUN RGB-D
Rtilt/K, 7-Scenes reprojection and occlusion; pixel-centre sampling; augmentation undo."""
import glob
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from oneformer3d.geometry import (backproject_depth, build_uv_index, render_depth,
                                  sample_img_feat, scale_intrinsic, sunrgbd_pose)
from tests.conftest import data_path


def _image_map(path):
    img = np.asarray(Image.open(path).convert('RGB'), dtype=np.float32)
    return img, torch.from_numpy(img.transpose(2, 0, 1).copy())


def _sevenscenes(i):
    root = data_path('sevenscenes', 'redkitchen')
    depth = np.asarray(Image.open(osp.join(root, f'frame-{i:06d}.depth.png')), np.float32)
    depth[depth >= 65535] = 0                          # 7-Scenes marks invalid as 65535
    pose = np.loadtxt(osp.join(root, f'frame-{i:06d}.pose.txt'))
    return depth / 1000.0, pose, np.loadtxt(osp.join(root, 'camera-intrinsics.txt'))


def test_sample_img_feat_pixel_centre_convention():
    # cell (i, j) of a stride-8 map holds its own coordinates -> sampling at image pixel u
    # must return u_f = (u + 0.5) / 8 - 0.5 exactly (interior), i.e. cell centres at 3.5 + 8j
    hf, wf, s = 6, 10, 8
    jj, ii = torch.meshgrid(torch.arange(hf, dtype=torch.float32),
                            torch.arange(wf, dtype=torch.float32), indexing='ij')
    fmap = torch.stack([ii, jj])
    uv = torch.tensor([[3.5, 3.5], [11.5, 19.5], [20.0, 30.0], [60.2, 33.3]])
    feats, ok = sample_img_feat(fmap, uv, (hf * s, wf * s))
    expect = (uv + 0.5) / s - 0.5
    torch.testing.assert_close(feats, expect)
    assert ok.all()
    # outside the image: zero feature, invalid; between the edge and the first centre: clamped
    feats, ok = sample_img_feat(fmap, torch.tensor([[-1.0, 5.0], [0.0, 0.0]]), (hf * s, wf * s))
    assert not ok[0] and feats[0].abs().sum() == 0 and ok[1]
    torch.testing.assert_close(feats[1], torch.zeros(2))


def test_sample_img_feat_equals_grid_sample_on_a_real_frame():
    """The row-gather sampler against ``grid_sample`` (align_corners=True, border padding,
    ``g = 2 u_f / (W_f - 1) - 1``), on a real ScanNet frame pooled to a stride-8 map and its
    scan's projected vertices (in-view, off-image and edge points): same features, same
    gradient into the map, both modes; an unknown mode raises."""
    import torch.nn.functional as F
    root = data_path('scannet')
    verts = np.fromfile(osp.join(root, 'scans_raw', 'scene0000_00.bin'),
                        np.float32).reshape(-1, 6)[::5]
    with open(osp.join(root, 'posed', 'scannet_infos.pkl'), 'rb') as fh:
        info = pickle.load(fh)[0]
    img, fmap = _image_map(osp.join(root, 'posed', info['img_paths'][0]))
    size, s = img.shape[:2], 8
    fmap = torch.nn.functional.avg_pool2d(fmap[None], s)[0].requires_grad_(True)
    hf, wf = fmap.shape[-2:]
    uv, ok = build_uv_index(verts, info['intrinsics'], info['extrinsics'][0], size)
    uv = torch.cat([uv, torch.tensor([[-0.5, -0.5], [size[1] - 0.51, size[0] - 0.51]])])
    ok = torch.cat([ok, torch.tensor([True, True])])
    assert 500 < int(ok.sum()) < len(ok)
    weight = torch.randn(len(uv), 3)
    for mode in ('bilinear', 'nearest'):
        feats, valid = sample_img_feat(fmap, uv, size, s, valid=ok, mode=mode)
        grad, = torch.autograd.grad((feats * weight).sum(), fmap)
        g = torch.stack([2 * ((uv[:, 0] + 0.5) / s - 0.5) / (wf - 1) - 1,
                         2 * ((uv[:, 1] + 0.5) / s - 0.5) / (hf - 1) - 1], -1)
        ref = F.grid_sample(fmap[None], g[None, :, None], mode=mode, padding_mode='border',
                            align_corners=True)[0, :, :, 0].t()
        ref = torch.where(valid[:, None], ref, torch.zeros_like(ref))
        ref_grad, = torch.autograd.grad((ref * weight).sum(), fmap)
        torch.testing.assert_close(feats, ref, atol=1e-3, rtol=1e-5)
        torch.testing.assert_close(grad, ref_grad, atol=1e-3, rtol=1e-4)
        assert torch.equal(valid, ok & (uv[:, 0] < size[1] - 0.5) & (uv[:, 1] < size[0] - 0.5)
                           & (uv >= -0.5).all(1))
    with pytest.raises(ValueError, match='bicubic'):
        sample_img_feat(fmap, uv, size, s, mode='bicubic')


def test_scannet_scan_colours_agree_with_posed_frames():
    """Raw-frame scan vertices projected with K @ inv(pose) into the three real frames: image
    colour at the point's pixel vs its vertex colour (data README: ~26-31 vs ~65 shuffled);
    the z-buffer occlusion test keeps hidden vertices out and lowers the error further."""
    root = data_path('scannet')
    verts = np.fromfile(osp.join(root, 'scans_raw', 'scene0000_00.bin'),
                        np.float32).reshape(-1, 6)
    with open(osp.join(root, 'posed', 'scannet_infos.pkl'), 'rb') as fh:
        info = pickle.load(fh)[0]
    for img_rel, pose in zip(info['img_paths'], info['extrinsics']):
        img, fmap = _image_map(osp.join(root, 'posed', img_rel))
        size = img.shape[:2]
        depth_k = scale_intrinsic(info['intrinsics'], 640 / size[1], 480 / size[0])
        depth = render_depth(verts, depth_k, pose, (480, 640), splat=2)
        uv, in_view = build_uv_index(verts, info['intrinsics'], pose, size)
        _, visible = build_uv_index(verts, info['intrinsics'], pose, size, depth=depth,
                                    occlusion_thr=0.05)
        colour, _ = sample_img_feat(fmap, uv, size, stride=1)
        err = (colour - torch.from_numpy(verts[:, 3:])).abs().mean(1)
        shuffled = (colour[visible] - torch.from_numpy(
            verts[np.random.default_rng(0).permutation(len(verts))][visible.numpy(), 3:])
                    ).abs().mean(1)
        assert 3000 < int(visible.sum()) < int(in_view.sum())
        assert err[visible].mean() < 35 and shuffled.mean() > 55, (err[visible].mean(),
                                                                    shuffled.mean())
        assert err[visible].mean() < err[in_view & ~visible].mean()


def test_sunrgbd_rtilt_convention():
    root = data_path('sunrgbd')
    for calib in sorted(glob.glob(osp.join(root, 'calib', '*.txt'))):
        idx = osp.splitext(osp.basename(calib))[0]
        lines = open(calib).read().split('\n')
        rtilt = np.array(lines[0].split(), float).reshape(3, 3, order='F')
        k = np.array(lines[1].split(), float).reshape(3, 3, order='F')
        pc = np.load(osp.join(root, 'lidar', f'{idx}.npz'))['pc']
        img, fmap = _image_map(osp.join(root, 'image', f'{idx}.jpg'))
        uv, ok = build_uv_index(pc[:, :3], k, sunrgbd_pose(rtilt), img.shape[:2])
        # the dataset's own formula, written out
        p = pc[:, :3] @ rtilt
        cam = np.stack([p[:, 0], -p[:, 2], p[:, 1]], 1)
        ref = cam @ k.T
        np.testing.assert_allclose(uv.numpy(), ref[:, :2] / ref[:, 2:], atol=5e-3)  # fp32
        colour, _ = sample_img_feat(fmap, uv, img.shape[:2], stride=1, valid=ok)
        err = (colour[ok] / 255 - torch.from_numpy(pc[ok.numpy(), 3:]).float()).abs().mean()
        assert ok.float().mean() > 0.99 and err < 0.05, (ok.float().mean(), err)


def test_sevenscenes_backproject_reproject_and_occlusion():
    depth0, pose0, k = _sevenscenes(0)
    pts, pix = backproject_depth(depth0, k, pose0)
    uv, ok = build_uv_index(pts, k, pose0, depth0.shape, depth=depth0, occlusion_thr=0.01)
    err = (uv - torch.from_numpy(pix).float()).norm(dim=1)
    assert ok.float().mean() > 0.999 and err.max() < 1.0 and err.mean() < 1e-3
    # frame 0's surface seen from frame 20: visible (median |dz| ~0.6 cm, data README) ...
    depth20, pose20, _ = _sevenscenes(20)
    uv, in_view = build_uv_index(pts, k, pose20, depth20.shape)
    _, vis_abs = build_uv_index(pts, k, pose20, depth20.shape, depth=depth20, occlusion_thr=0.05)
    _, vis_rel = build_uv_index(pts, k, pose20, depth20.shape, depth=depth20,
                                occlusion_mode='rel', occlusion_thr=0.25)
    assert vis_abs.sum() > 0.7 * in_view.sum() and vis_rel.sum() >= vis_abs.sum()
    # ... the same points pushed 0.5 m behind that surface along frame 20's rays are occluded
    w2c = np.linalg.inv(pose20)
    cam = pts.astype(np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
    cam_far = cam * ((cam[:, 2:] + 0.5) / cam[:, 2:])
    far = (cam_far @ pose20[:3, :3].T + pose20[:3, 3]).astype(np.float32)
    uv_far, in_view_far = build_uv_index(far, k, pose20, depth20.shape)
    _, vis_far = build_uv_index(far, k, pose20, depth20.shape, depth=depth20, occlusion_thr=0.05)
    torch.testing.assert_close(uv_far[in_view], uv[in_view], atol=1e-2, rtol=0)
    assert in_view_far.sum() > 0.9 * in_view.sum() and vis_far.sum() < 0.01 * in_view.sum()


def test_batched_equals_per_sample_and_colour_depth_resolution():
    depth0, pose0, k = _sevenscenes(0)
    depth20, pose20, _ = _sevenscenes(20)
    pts, _ = backproject_depth(depth0, k, pose0)
    pts = torch.from_numpy(pts[:5000])
    k2 = scale_intrinsic(k, 2, 2)                      # a 1280x960 "colour" image
    uv_b, ok_b = build_uv_index(torch.stack([pts, pts]), np.stack([k, k2]),
                                np.stack([pose0, pose20]), (480, 640))
    for i, (kk, pose) in enumerate(((k, pose0), (k2, pose20))):
        uv, ok = build_uv_index(pts, kk, pose, (480, 640))
        torch.testing.assert_close(uv_b[i], uv)
        assert torch.equal(ok_b[i], ok)
    # colour at 2x resolution, depth registered at 1x: same visibility as at 1x, uv scaled
    uv1, vis1 = build_uv_index(pts, k, pose0, (480, 640), depth=depth0)
    uv2, vis2 = build_uv_index(pts, k2, pose0, (960, 1280), depth=depth0)
    torch.testing.assert_close(uv2, (uv1 + 0.5) * 2 - 0.5, atol=1e-3, rtol=0)
    assert (vis1 == vis2).float().mean() > 0.999


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='occlusion_mode'):
        build_uv_index(np.zeros((3, 3)), np.eye(3), np.eye(4), (4, 4), occlusion_mode='x')
    with pytest.raises(ValueError, match='intrinsic'):
        build_uv_index(np.zeros((2, 3, 3)), np.stack([np.eye(3)] * 3), np.eye(4), (4, 4))


def test_a_map_smaller_than_its_stride_says_reads_no_border_and_is_refused_on_load(tmp_path):
    """A (4, 10, 10) map whose metadata claims stride 16 on a 320 x 320 image (it would need
    20 x 20 cells): the points beyond its 160 covered pixels are invalid (they used to read the
    clamped border and count as valid); a stored file with that metadata is refused when
    loaded, naming the three sizes; the real colour frame with a consistent map loads."""
    from oneformer3d.datasets.preprocessing.feature_io import load_feature_file
    from oneformer3d.geometry import check_pose
    fmap = torch.arange(400, dtype=torch.float32).reshape(4, 10, 10) + 1
    uv = torch.tensor([[10.0, 10.0], [150.0, 40.0], [170.0, 40.0], [300.0, 300.0]])
    feats, valid = sample_img_feat(fmap, uv, (320, 320), stride=16)
    assert valid.tolist() == [True, True, False, False]
    assert (feats[2:] == 0).all() and (feats[:2] != 0).all()
    img = Image.open(data_path('scannet', 'posed_rgbd', 'posed_images', 'scene0000_00',
                               '00000.jpg'))
    w, h = img.size
    good = dict(pix=torch.zeros(3, 60, 80), meta=dict(image_size=[h, w], stride=[w / 80, h / 60],
                                                      feat_size=[60, 80], channels=3))
    torch.save(good, tmp_path / 'good.pt')
    assert load_feature_file(str(tmp_path / 'good.pt'))[0].shape == (3, 60, 80)
    bad = dict(good, pix=torch.zeros(3, 30, 40), meta=dict(good['meta'], feat_size=[30, 40]))
    torch.save(bad, tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match=r'bad.pt: a \(30, 40\) map at stride \(16.2, 16.13\d*\) '
                                         r'covers .* its meta says the image is 968 x 1296'):
        load_feature_file(str(tmp_path / 'bad.pt'))
    # camera poses must be rigid: the real one is, scaled / reflected / bad last row are not
    pose = np.loadtxt(data_path('scannet', 'posed_rgbd', 'posed_images', 'scene0000_00',
                                '00000.txt'))
    assert check_pose(pose) is None
    scaled, mirrored, row = pose.copy(), pose.copy(), pose.copy()
    scaled[:3, :3] *= 1.05
    mirrored[:3, 0] *= -1
    row[3, 0] = 0.1
    assert 'not orthonormal' in check_pose(scaled)
    assert 'reflection' in check_pose(mirrored)
    assert 'last row' in check_pose(row)
