"""Online multi-view path on the real scene0000_00 sequence and the 7-Scenes sequence:
MV infos, LoadAdjacentDataFromFile, memory, merge head/criterion, streaming inference scored
on the reconstructed scan, DDP and load_from from an SV checkpoint."""
import os.path as osp
import pickle
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from oneformer3d.datasets.preprocessing.scannet_io import read_bin
from oneformer3d.datasets.preprocessing.scannet_sequences import create_rgbd_sequence_infos
from oneformer3d.geometry import build_uv_index
from oneformer3d.metainfo import SCANNET200
from oneformer3d.registry import DATASETS, MODELS
from tests.conftest import MV_FRAMES, REPO, data_path
from tests.helpers.builders import train

init_default_scope('oneformer3d')
CONFIG = osp.join(REPO, 'configs/esam/ESAM_online_3d_scannet_sample.py')


@pytest.fixture(scope='module')
def mv_root(mv_frames):
    return mv_frames           # the session's sequence (conftest.py), read only


def build(cfg_loader, root, **pipeline_kw):
    ds_cfg = cfg_loader.dataset.copy()
    ds_cfg.data_root = root
    if pipeline_kw:
        ds_cfg.pipeline[0].update(pipeline_kw)
    return DATASETS.build(ds_cfg)


def test_mv_infos_consistent_ids_and_poses(mv_root):
    with open(osp.join(mv_root, 'scannet_mv_oneformer3d_infos_train.pkl'), 'rb') as fh:
        data = pickle.load(fh)
    assert data['metainfo']['data_kind'] == 'multi_view' and len(data['data_list']) == 1
    info = data['data_list'][0]
    assert tuple(info['frame_ids']) == MV_FRAMES and info['poses'].shape == (3, 4, 4)
    assert set(info['depth_source']) == {'sensor'}
    assert osp.isfile(osp.join(mv_root, info['scan_path']))
    scan_ins = read_bin(osp.join(mv_root, info['scan_instance_mask_path']), np.int64)
    seen = []
    for i, name in enumerate(info['lidar_paths']):
        pts = read_bin(osp.join(mv_root, 'points', name), np.float32, 6)
        ins = read_bin(osp.join(mv_root, 'instance_mask', name), np.int64)
        assert len(pts) == 5000 and set(np.unique(ins)) <= set(np.unique(scan_ins))
        seen.append(set(np.unique(ins[ins > 0])))
        # world-frame points project into their own image with the stored pose
        uv, ok = build_uv_index(pts, info['intrinsic'], info['poses'][i], (968, 1296))
        assert ok.float().mean() > 0.99
    # the same scan instance ids recur across frames (consistent across the scene)
    assert len(seen[0] & seen[1]) + len(seen[1] & seen[2]) >= 4    # measured 7 + 1


def test_sevenscenes_inference_only_infos(tmp_path):
    res = create_rgbd_sequence_infos(data_path('sevenscenes', 'redkitchen'), str(tmp_path),
                                     SCANNET200, 'sevenscenes_mv', frame_interval=10,
                                     max_points=3000)
    info = res['infos'][0]
    assert res['summary']['frames'] == 5 and 'pts_instance_mask_paths' not in info
    assert 'scan_path' not in info
    with open(res['val'], 'rb') as fh:
        assert pickle.load(fh)['metainfo']['labelled'] is False


def test_load_adjacent_frames(mv_root):
    cfg = Config.fromfile(CONFIG)
    ds = build(cfg.train_dataloader, mv_root, num_frames=2)
    item = ds[0]
    meta = item['data_samples'].metainfo
    fidx = item['inputs']['frame_idx']
    assert meta['num_frames'] == 2 and fidx.unique().tolist() == [0, 1]
    assert len(meta['img_paths']) == 2 and meta['poses'].shape == (2, 4, 4)
    assert meta['frame_sel'][1] == meta['frame_sel'][0] + 1                # consecutive
    sp = item['data_samples'].gt_pts_seg.sp_pts_mask
    assert not set(sp[fidx == 0].tolist()) & set(sp[fidx == 1].tolist())  # unique per frame
    test = build(cfg.test_dataloader, mv_root, scan_region='full')[0]
    assert test['data_samples'].metainfo['num_frames'] == 3
    assert test['inputs']['scan_points'].shape == (81369, 3)
    assert len(test['data_samples'].eval_ann_info['pts_instance_mask']) == 81369


def test_observed_scan_region(mv_root):
    """scan_region='observed' keeps exactly the scan points near a loaded frame point: the
    three consecutive frames see part of scene0000_00's scan, every kept
    point lies within the radius of a frame point and every dropped one beyond it."""
    from scipy.spatial import cKDTree
    cfg = Config.fromfile(CONFIG)
    full = build(cfg.test_dataloader, mv_root, scan_region='full')[0]
    obs = build(cfg.test_dataloader, mv_root, scan_region='observed', observed_radius=0.05)[0]
    frac = obs['data_samples'].metainfo['scan_observed_fraction']
    assert full['data_samples'].metainfo['scan_observed_fraction'] == 1.0
    scan, kept = full['inputs']['scan_points'].numpy(), obs['inputs']['scan_points'].numpy()
    assert 0.02 < frac < 0.6 and len(kept) == round(frac * len(scan))  # 0.05 measured
    dist = cKDTree(full['inputs']['points'][:, :3].numpy()).query(scan)[0]
    np.testing.assert_allclose(kept, scan[dist <= 0.05])
    ins_full = full['data_samples'].eval_ann_info['pts_instance_mask']
    np.testing.assert_array_equal(obs['data_samples'].eval_ann_info['pts_instance_mask'],
                                  ins_full[dist <= 0.05])
    with pytest.raises(ValueError, match='scan_region'):
        build(cfg.test_dataloader, mv_root, scan_region='seen')


def test_memory_starts_as_identity_and_stays_bounded(mv_root):
    """Zero-initialised fusion: with memory, frame outputs equal the memory-less model's;
    re-feeding the same frames does not grow the memory."""
    cfg = Config.fromfile(CONFIG)
    item = build(cfg.test_dataloader, mv_root)[0]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    data = model.data_preprocessor(pseudo_collate([item]))
    from oneformer3d.models.online.sequence import frame_inputs
    pts, fidx = data['inputs']['points'][0], data['inputs']['frame_idx'][0]
    sp = item['data_samples'].gt_pts_seg.sp_pts_mask
    model.memory.reset()
    sizes = []
    with torch.no_grad():
        for rep in range(2):
            for t in range(3):
                fin = frame_inputs(model, [pts[fidx == t]], [sp[fidx == t]])
                with_mem = model.extract_feat(fin, injector=model.memory)[0][0]
                plain = model.extract_feat(fin)[0][0]
                torch.testing.assert_close(with_mem, plain)
                sizes.append(model.memory.state_nbytes())
    assert sizes[2] > sizes[0] and sizes[5] == sizes[2]


def _encoder_probe(store):
    """An injector that records the raw encoder outputs {stride: (C, F)} of a frame."""
    def probe(point, stride, x):
        if point == 'encoder':
            store[stride] = (x.C.clone(), x.F.clone())
        return x
    return probe


def _model_with_active_memory(mv_root):
    """The online model (seed 0) with non-zero memory fusion weights, and the inputs of the
    sample sequence's first two frames."""
    from oneformer3d.models.online.sequence import frame_inputs
    cfg = Config.fromfile(CONFIG)
    item = build(cfg.test_dataloader, mv_root)[0]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    for conv in model.memory.conv_convert.values():
        torch.nn.init.normal_(conv[0].kernel, std=0.5)
    data = model.data_preprocessor(pseudo_collate([item]))
    pts, fidx = data['inputs']['points'][0], data['inputs']['frame_idx'][0]
    sp = item['data_samples'].gt_pts_seg.sp_pts_mask
    return model, [frame_inputs(model, [pts[fidx == t]], [sp[fidx == t]]) for t in range(2)]


def test_memory_max_pools_history_and_retrieves_it(mv_root):
    """With non-zero fusion weights: the stored memory of a voxel seen by the first two frames
    is the element-wise max of both frames' raw encoder features; the second frame's output
    depends on that history (it differs from the same frame after a reset); queue=1 forgets
    the voxels only frame 00000 saw, queue=-1 keeps them."""
    from oneformer3d.models.online.multilevel_memory import voxel_keys
    model, fin = _model_with_active_memory(mv_root)
    model.eval()
    mem = model.memory
    raw = [{}, {}]
    stride = 4
    with torch.no_grad():
        mem.reset()
        out0 = model.extract_feat(fin[0], injector=[_encoder_probe(raw[0]), mem])[0][0]
        with_history = model.extract_feat(fin[1], injector=[_encoder_probe(raw[1]), mem])[0][0]
        keys, feats, seen = mem.state[(0, stride)]
        k = [voxel_keys(torch.div(raw[t][stride][0][:, 1:], stride, rounding_mode='floor'))
             for t in range(2)]
        both = np.intersect1d(k[0].numpy(), k[1].numpy())
        assert len(both) > 100  # the two frames overlap
        pick = torch.from_numpy(both)
        rows = [torch.searchsorted(k[t].sort().values, pick) for t in range(2)]
        f = [raw[t][stride][1][k[t].argsort()][rows[t]] for t in range(2)]
        stored = feats[torch.searchsorted(keys, pick)]
        torch.testing.assert_close(stored, torch.maximum(f[0], f[1]))
        assert (seen[torch.searchsorted(keys, pick)] == 1).all()
        only0 = np.setdiff1d(k[0].numpy(), k[1].numpy())
        assert (seen[torch.searchsorted(keys, torch.from_numpy(only0))] == 0).all()
        # retrieval matters: the same frame without history gives other features, at the
        # fused encoder level and (diluted by the decoder) in the superpoint features
        fused_hist, fused_alone = {}, {}
        mem.reset()
        model.extract_feat(fin[0], injector=mem)
        model.extract_feat(fin[1], injector=[mem, _encoder_probe(fused_hist)])
        mem.reset()
        no_history = model.extract_feat(fin[1], injector=[mem, _encoder_probe(fused_alone)])[0][0]
        a, b = fused_hist[stride][1], fused_alone[stride][1]
        assert torch.equal(fused_hist[stride][0], fused_alone[stride][0])
        assert (a - b).norm() / b.norm() > 0.05, float((a - b).norm() / b.norm())
        rel = (with_history - no_history).norm() / no_history.norm()
        assert rel > 1e-5, float(rel)     # far above float32 rounding (~1e-7)
        assert not torch.allclose(out0, model.extract_feat(fin[0])[0][0])  # non-zero weights
        # queue=1: voxels not seen in the last frame are dropped from the state
        mem.queue = 1
        mem.reset()
        for t in range(2):
            model.extract_feat(fin[t], injector=mem)
        keys_q = mem.state[(0, stride)][0]
        assert len(keys_q) == len(torch.unique(k[1])) < len(keys)


def test_memory_gradient_reaches_earlier_frames_only_without_detach(mv_root):
    """ESAM keeps the memory in the graph (detach_state=False): frame 1's output has a
    gradient with respect to frame 0's encoder output; the default detaches it."""
    import MinkowskiEngine as ME      # after oneformer3d's compatibility fixes
    model, fin = _model_with_active_memory(mv_root)
    mem = model.memory
    grads = {}
    for detach in (True, False):
        mem.detach_state = detach
        mem.reset()
        kept = {}

        def keep_grad(point, stride, x):    # frame 0's stride-4 encoder output, as a leaf
            if point == 'encoder' and stride == 4 and 'f0' not in kept:
                kept['f0'] = x.F.detach().requires_grad_(True)
                x = ME.SparseTensor(features=kept['f0'], coordinate_map_key=x.coordinate_map_key,
                                    coordinate_manager=x.coordinate_manager)
            return x
        model.extract_feat(fin[0], injector=[keep_grad, mem])
        out1 = model.extract_feat(fin[1], injector=mem)[0][0]
        g = torch.autograd.grad(out1.sum(), kept['f0'], allow_unused=True)[0]
        grads[detach] = 0.0 if g is None else float(g.abs().sum())
    assert grads[True] == 0.0 and grads[False] > 0.0, grads


def test_short_sequence_is_padded_for_batches(mv_root):
    """The test sequence has 3 frames, a clip of 8 (ESAM's) is asked: each sample is padded
    with its last frame (marked per frame and counted by DataFallbackHook), so a batch of two
    trains; with pad_short='none' the unequal batch stops with a message naming the fix."""
    from oneformer3d.engine import DataFallbackHook
    cfg = Config.fromfile(CONFIG)
    ds = build(cfg.train_dataloader, mv_root, num_frames=8)
    a, b = ds[0], ds[0]
    meta = a['data_samples'].metainfo
    assert meta['num_frames'] == 8 and meta['frame_padded'] == [False] * 3 + [True] * 5
    assert list(meta['frame_sel']) == [0, 1, 2, 2, 2, 2, 2, 2]
    fidx, pts = a['inputs']['frame_idx'], a['inputs']['points']
    assert int(fidx.max()) == 7
    torch.testing.assert_close(pts[fidx == 7][:, 3:], pts[fidx == 2][:, 3:])  # same colours
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    losses = model(**model.data_preprocessor(pseudo_collate([a, b]), True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    hook = DataFallbackHook()
    hook.after_train_iter(None, 0, pseudo_collate([a, b]))
    assert hook.counts[('train', 'frame_padded')] == (10, 16)
    short = build(cfg.train_dataloader, mv_root, num_frames=2, pad_short='none')[0]
    full = build(cfg.train_dataloader, mv_root, num_frames=8, pad_short='none')[0]
    assert short['data_samples'].metainfo['num_frames'] == 2
    with pytest.raises(ValueError, match="pad_short='repeat_last'"):
        model(**model.data_preprocessor(pseudo_collate([short, full]), True), mode='loss')


def test_mv_loss_uses_every_parameter_and_predicts_on_the_scan(mv_root):
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    item = build(cfg.train_dataloader, mv_root)[0]
    losses = model(**model.data_preprocessor(pseudo_collate([item]), True), mode='loss')
    assert set(losses) >= {'loss_cls', 'loss_bce', 'loss_dice', 'loss_merge'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, unused           # DDP needs no find_unused_parameters
    model.eval()
    test = build(cfg.test_dataloader, mv_root, scan_region='full')[0]
    out = model(**model.data_preprocessor(pseudo_collate([test])), mode='predict')[0]
    pred = out.pred_instances_3d
    assert pred.pts_instance_mask.shape[1] == 81369
    stats = out.metainfo['online_stats']
    assert stats['frames'] == 3 and stats['instances'] == len(pred) <= 3 * 20  # topk_insts=20


def test_esam_train_pipeline_with_elastic_field_trains_on_the_real_sequence(mv_root):
    """The full-scale online config's training pipeline (ESAM's: rotation, scale, flips and
    one elastic field over the clip, here forced on) on the real sequence: the field moves
    the frames' points (against the same draws with a zero field), and the sample model's
    loss is finite."""
    full = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_online_3d_scannet.py'))
    pipeline = full.train_dataloader.dataset.pipeline
    elastic = [t for t in pipeline if t.type == 'ElasticTransform']
    assert len(elastic) == 1 and elastic[0].p == 0.5
    elastic[0].p = 1.0
    cfg = Config.fromfile(CONFIG)
    loader = cfg.train_dataloader.copy()
    loader.dataset.pipeline = pipeline
    np.random.seed(0)
    item = build(loader, mv_root)[0]
    elastic[0].mag = [0, 0]              # the same random draws, a zero field
    np.random.seed(0)
    rigid = build(loader, mv_root)[0]
    moved = (item['inputs']['points'][:, :3] - rigid['inputs']['points'][:, :3]).norm(dim=1)
    assert float(moved.max()) > 0.05 and float(moved.median()) > 0.001
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    losses = model(**model.data_preprocessor(pseudo_collate([item]), True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.slow
def test_online_training_from_sv_checkpoint_under_torchrun(mv_root, tmp_path):
    """An SV checkpoint (the SV sample model's weights, written in this process) ->
    load_from into the online model, which trains 2 iterations in 2 processes (gloo) without
    unused-parameter errors; the load report lists the new memory / merge head keys."""
    sv_cfg = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_sv_3d_scannet_sample.py'))
    torch.manual_seed(0)
    ckpt = tmp_path / 'iter_1.pth'
    torch.save(dict(meta=dict(iter=1), state_dict=MODELS.build(sv_cfg.model).state_dict()),
               ckpt)
    roots = lambda root: [f'{loader}.dataset.data_root={root}'  # noqa: E731
                          for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    res = train([CONFIG, '--work-dir', str(tmp_path / 'mv_run'), '--cfg-options',
                 'train_cfg.max_iters=2', 'train_cfg.val_interval=10', 'param_scheduler.1.end=2',
                 'default_hooks.checkpoint.interval=2', f'load_from={ckpt}',
                 *roots(mv_root)], nproc=2)
    log = res.stdout + res.stderr
    # the load report: the SV weights load, the new box head / memory / merge head are
    # listed as missing
    assert re.search(r'iter_1.pth: loaded \d+ tensors, missing \d+', log), log[-3000:]
    assert re.search(r'missing: decoder\.reg_head\.0\.weight, .*memory\.conv_d1', log), \
        log[-3000:]
    assert (tmp_path / 'mv_run' / 'iter_2.pth').is_file()


def test_the_preprocessor_voxelizes_each_frame_and_a_frame_batch_equals_one_voxelization(
        mv_root):
    """MV voxelisation happens in the data preprocessor, as SV's: per sample, per frame the
    voxels of that frame's points; frame t of a batch (collate_voxels) equals voxelizing all
    samples' frame-t points at once (the real sequence twice as a batch of two)."""
    from oneformer3d.models.data_preprocessors import collate_voxels, voxelize
    cfg = Config.fromfile(CONFIG)
    ds = build(cfg.val_dataloader, mv_root)
    pre = MODELS.build(cfg.model.data_preprocessor)
    item = ds[0]
    data = pre(pseudo_collate([item, item]))['inputs']
    fv = data['frame_voxels']
    assert len(fv) == 2 and len(fv[0]) == 3 and 'voxels' not in data
    for t in range(3):
        pts = [p[f == t] for p, f in zip(data['points'], data['frame_idx'])]
        whole = voxelize(pts, pre.voxel_size, slice(pre.feat_start, None))
        batch = collate_voxels([fv[0][t], fv[1][t]])
        assert torch.equal(batch['coordinates'], whole['coordinates'])
        assert torch.equal(batch['features'], whole['features'])
        assert all(torch.equal(a, b) for a, b in zip(batch['point2voxel'],
                                                     whole['point2voxel']))
        assert len(fv[0][t]['point2voxel'][0]) == len(pts[0]) == 5000


def test_bad_sequences_are_refused_naming_the_frame(mv_root, tmp_path):
    """MV infos with a NaN pose, a scaled (non-rigid) pose, frames out of order, or a frame
    without points: each is refused naming the infos, the sample and the frame (before, a NaN
    pose ended in an index error naming nothing, a scaled one was accepted, an empty frame
    crashed the process and frames out of order were used as given)."""
    import os
    from oneformer3d.datasets.infos_io import load_infos
    from tests.conftest import derive_data_dir
    cfg = Config.fromfile(CONFIG)
    good = load_infos(osp.join(mv_root, 'scannet_mv_oneformer3d_infos_train.pkl'))

    def infos_with(change, name):
        data = {**good, 'data_list': [dict(good['data_list'][0])]}
        change(data['data_list'][0])
        root = derive_data_dir(mv_root, str(tmp_path / name))
        path = osp.join(root, 'bad.pkl')
        with open(path, 'wb') as fh:
            pickle.dump(data, fh)
        return root, path

    def nan_pose(info):
        info['poses'] = info['poses'].copy()
        info['poses'][1, 0, 3] = np.nan

    def scaled_pose(info):
        info['poses'] = info['poses'].copy()
        info['poses'][2, :3, :3] *= 1.1

    def swapped(info):
        info['frame_ids'] = [info['frame_ids'][i] for i in (0, 2, 1)]
    f = MV_FRAMES
    for change, name, msg in (
            (nan_pose, 'nan', f'sample scene0000_00: frame {f[1]}: pose has NaN/Inf values'),
            (scaled_pose, 'scaled', f'frame {f[2]}: pose rotation is not orthonormal'),
            (swapped, 'order', f'frame {f[1]} follows {f[2]}: frames must be in increasing')):
        root, path = infos_with(change, name)
        with pytest.raises(ValueError, match=re.escape(f'{path}: ') + '.*' + re.escape(msg)):
            DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=root, ann_file=path))
    root, path = infos_with(lambda info: None, 'empty')
    os.unlink(osp.join(root, 'points'))    # the derived folder links 'points': own one
    os.makedirs(osp.join(root, 'points'))
    for name in good['data_list'][0]['lidar_paths']:
        src = osp.join(mv_root, 'points', name)
        dst = osp.join(root, 'points', name)
        if name == good['data_list'][0]['lidar_paths'][1]:
            open(dst, 'wb').close()
        else:
            os.symlink(src, dst)
    ds = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=root, ann_file=path))
    with pytest.raises(ValueError, match=rf'_{f[1]}.bin: frame {f[1]} of scene0000_00 has no '
                                         rf'point'):
        ds[0]
