"""RGB <-> point-cloud alignment on the real RLBench episode: point files, feature packs
(.pt / zarr), strict pairing and its fallbacks, InfoNCE by hand, MoCo queue, training above
chance through the Runner."""
import math
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from oneformer3d.robot.datasets import RLBenchAlignDataset
from oneformer3d.robot.datasets.feature_packs import FeaturePack, pack_path, write_pack
from oneformer3d.robot.preprocessing.pack_builder import build_pack, episode_frames
from oneformer3d.robot.preprocessing.rlbench import prepare_episode
from oneformer3d.robot.models import ClipInfoNCE, MoCoQueue, PointMLPEncoder
from oneformer3d.models.img_encoders import DINOv2, RGBPatchEncoder
from tests.conftest import REPO, data_path, run_script

init_default_scope('oneformer3d')
STEPS = 40


@pytest.fixture(scope='module')
def rlbench_root(tmp_path_factory):
    """The first 40 real steps: fused 4-camera clouds (1,024 points, random frozen PointMLP
    teacher), RGB-patch and DINOv2-S/14 (random init) packs in both stores."""
    out = str(tmp_path_factory.mktemp('rlbench'))
    prepare_episode(data_path('rlbench', 'open_drawer', 'episode0'), out, 'open_drawer',
                    'episode0', PointMLPEncoder().eval(), 'PointMLPEncoder',
                    cameras=('front', 'left_shoulder', 'right_shoulder', 'overhead'),
                    num_points=1024, steps=list(range(STEPS)))
    frames = episode_frames(osp.join(out, 'rgb_dataset', 'RGB', 'open_drawer', 'episode0'))
    for name, enc in (('rgb', RGBPatchEncoder(stride=4, short_side=128)),
                      ('dino_s', DINOv2('vit_small_patch14_dinov2', short_side=112))):
        build_pack(enc, name, frames, [pack_path(osp.join(out, 'packs'), name, 'open_drawer',
                                                 'episode0', s) for s in ('zarr', 'pt')])
    return out


def dataset(root, **kw):
    args = dict(data_root=root, task='open_drawer', episodes=['episode0'],
                encoders=['rgb', 'dino_s'], num_points=256, num_tokens=16)
    args.update(kw)
    return RLBenchAlignDataset(**args)


def test_point_files_and_packs(rlbench_root):
    pts = torch.load(osp.join(rlbench_root, 'pc_dataset/PC/teacher/open_drawer/episode0/'
                              'step_0007.ply.teacher.pt'), weights_only=True)
    assert pts['pc'].shape == (1024, 6) and pts['uv'].shape == (1024, 2)
    assert pts['pc_feat'].shape == (1024, 256) and pts['meta']['teacher'] == 'PointMLPEncoder'
    z = FeaturePack(pack_path(osp.join(rlbench_root, 'packs'), 'dino_s', 'open_drawer',
                              'episode0', 'zarr'))
    p = FeaturePack(pack_path(osp.join(rlbench_root, 'packs'), 'dino_s', 'open_drawer',
                              'episode0', 'pt'))
    assert z.shape == p.shape == (9, 8, 8, 8, 384)       # 40 frames, windows of 8 every 4
    import zarr
    assert zarr.open_group(z.path, mode='r')['per_frame_features'].chunks == (1, 1, 8, 8, 384)
    torch.testing.assert_close(z.frame('step_0013'), p.frame('step_0013'))
    # grouped reads (runs across window boundaries, out of order) equal frame-by-frame reads
    steps = [f'step_{i:04d}' for i in range(5, 14)] + ['step_0030', 'step_0002']
    for pack in (z, p):
        torch.testing.assert_close(pack.frames(steps), torch.stack([pack.frame(s)
                                                                    for s in steps]))
    with pytest.raises(KeyError, match='no frame step_0099'):
        z.frames(['step_0001', 'step_0099'])
    assert z.meta['stride'] == [16.0, 16.0]               # 128 px image / 8 cells


def test_legacy_pt_pack_variants(tmp_path):
    feats = torch.rand(2, 3, 4, 5, 6)
    paths = [[f'x/step_{w * 3 + t:04d}.png' for t in range(3)] for w in range(2)]
    torch.save(dict(features=feats, paths=paths), tmp_path / 'legacy.pt')
    pack = FeaturePack(str(tmp_path / 'legacy.pt'))
    torch.testing.assert_close(pack.frame('step_0004'), feats[1, 1])
    assert pack.meta == {}
    torch.save(dict(something=feats), tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match='bad.pt: needs a'):
        FeaturePack(str(tmp_path / 'bad.pt'))


def test_strict_pairing_uses_the_same_step_in_every_pack(rlbench_root):
    """Every encoder's frame is the anchor step's; the RGB-patch features sampled at the
    points' uv reproduce the colours of the points the anchor camera sees."""
    ds = dataset(rlbench_root, mode='point_patch', test_mode=True)
    packs = ds.packs('episode0')
    for i in (0, 17, 39):
        item = ds[i]
        step = item['data_samples']['step']
        assert step == f'step_{i:04d}'
        # the patches equal a fresh sampling of each pack's frame of that step
        from oneformer3d.geometry import sample_img_feat
        rng = np.random.default_rng(i)
        pts = ds._load_points('episode0', step)
        pick = torch.from_numpy(rng.choice(len(pts['pc']), 256, replace=False))
        for enc, pack in packs.items():
            ref, _ = sample_img_feat(pack.frame(step).permute(2, 0, 1), pts['uv'][pick],
                                     (128, 128), stride=pack.meta['stride'])
            torch.testing.assert_close(item['inputs']['patches'][enc], ref)
    # colour agreement, pooled over four steps, against seeded shuffles of the same points
    # (the 'rgb' encoder's features are 4x4-pixel mean colours; fused clouds carry the
    # colours other cameras saw, so the error is not zero: ~15 vs ~33 here)
    gen = torch.Generator().manual_seed(0)
    err, shuffled = [], []
    for i in (0, 10, 17, 39):
        item = ds[i]
        pts = ds._load_points('episode0', f'step_{i:04d}')
        pick = torch.from_numpy(np.random.default_rng(i).choice(len(pts['pc']), 256,
                                                                 replace=False))
        valid = item['inputs']['valid']
        colour = item['inputs']['patches']['rgb'][valid] * 255
        ref = pts['pc'][pick][valid, 3:]
        err.append((colour - ref).abs().mean(1))
        shuffled.append(torch.stack([(colour - ref[torch.randperm(len(ref), generator=gen)])
                                     .abs().mean(1) for _ in range(10)]).mean(0))
    err, shuffled = torch.cat(err).mean(), torch.cat(shuffled).mean()
    assert err < 0.6 * shuffled, (err, shuffled)


@pytest.fixture()
def gappy_packs(rlbench_root, tmp_path):
    """'rgb' pack without step_0005; 'none' pack holding only steps the data never asks for."""
    root = str(tmp_path)
    src = FeaturePack(pack_path(osp.join(rlbench_root, 'packs'), 'rgb', 'open_drawer',
                                'episode0', 'zarr'))
    import shutil
    shutil.copytree(osp.join(rlbench_root, 'pc_dataset'), osp.join(root, 'pc_dataset'))
    frames = [p for w in src.frame_paths for p in w]
    keep = [p for p in dict.fromkeys(frames) if 'step_0005' not in p][:8]
    feats = torch.stack([src.frame(osp.basename(p)[:9]) for p in keep])[None]
    write_pack(pack_path(osp.join(root, 'packs'), 'rgb', 'open_drawer', 'episode0'), feats,
               [keep], src.meta)
    other = [p.replace('step_00', 'step_90') for p in keep]
    write_pack(pack_path(osp.join(root, 'packs'), 'none', 'open_drawer', 'episode0'), feats,
               [other], src.meta)
    return root


def test_pairing_fallbacks(gappy_packs):
    from mmengine.dataset import default_collate

    from oneformer3d.engine import DataFallbackHook
    kw = dict(encoders=['rgb'], mode='point_patch', step_range=(5, 6), test_mode=True)
    # 'error': the gap is found when the dataset is built, before any sample is read
    with pytest.raises(KeyError, match=r'episode0.zarr: no frame step_0005 \(1 of 1 steps'):
        dataset(gappy_packs, pairing_fallback='error', **kw)
    ds = dataset(gappy_packs, pairing_fallback='random', **kw)
    item = ds[0]
    assert item['data_samples']['step'] == 'step_0005' and ds.fallback_counts['random'] == 1
    assert item['data_samples']['pairing_fallback'] is True
    ds = dataset(gappy_packs, pairing_fallback='skip', encoders=['rgb'], mode='point_patch',
                 step_range=(4, 7), test_mode=True)
    items = [ds[i] for i in range(3)]
    assert items[1]['data_samples']['step'] == 'step_0006' and ds.fallback_counts['skip'] == 1
    assert [it['data_samples']['pairing_fallback'] for it in items] == [False, True, False]
    # counted where a user sees it, from the collated batch (any number of workers)
    hook = DataFallbackHook()
    hook.after_train_iter(None, 0, default_collate(items))
    assert hook.counts[('train', 'pairing_fallback')] == (1, 3)
    ds = dataset(gappy_packs, pairing_fallback='skip', encoders=['none'], mode='point_patch',
                 step_range=(0, 8), test_mode=True)
    with pytest.raises(RuntimeError, match='every sample misses a step'):
        ds[0]                                  # terminates after one pass over the data


def test_pack_channels_are_checked_against_the_config(rlbench_root):
    """A config whose encoder widths disagree with the packs stops when the dataset is
    built, naming the pack (instead of a shape error in the adapter mid-run)."""
    assert len(dataset(rlbench_root, encoders={'rgb': 3, 'dino_s': 384})) > 0
    with pytest.raises(ValueError, match=r"dino_s/open_drawer/episode0.zarr: 384 channels, "
                                         r"the config says encoders\['dino_s'\] = 768"):
        dataset(rlbench_root, encoders={'rgb': 3, 'dino_s': 768})


def test_clip_infonce_equals_hand_computation():
    a = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
    b = torch.tensor([[0.8, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    loss = ClipInfoNCE()(a, b)['loss_nce']
    s = 1 / 0.07                              # exp(logit_scale) at init
    sim = [[sum(x * y for x, y in zip(r, c)) for c in b.tolist()] for r in a.tolist()]

    def ce(rows):
        return sum(math.log(sum(math.exp(s * v) for v in r)) - s * r[i]
                   for i, r in enumerate(rows)) / 3
    expect = 0.5 * (ce(sim) + ce([list(col) for col in zip(*sim)]))
    assert loss.item() == pytest.approx(expect, rel=1e-5)
    crit = ClipInfoNCE()
    with torch.no_grad():
        crit.logit_scale.fill_(10.0)
    assert crit.scale().item() == pytest.approx(100.0)      # clamped at ln 100


def test_moco_queue_enqueue_dequeue_and_momentum():
    q = MoCoQueue(dim=4, size=5)
    q.enqueue(torch.eye(4)[:3])
    assert q.negatives().shape == (3, 4) and int(q.ptr) == 3
    q.enqueue(torch.eye(4))                  # wraps: slots 3, 4, 0, 1
    assert q.negatives().shape == (5, 4) and int(q.ptr) == 2
    torch.testing.assert_close(q.queue[0], torch.eye(4)[2])   # oldest entries overwritten
    torch.testing.assert_close(q.queue[2], torch.eye(4)[2])   # from the first call, kept
    online, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = target.weight.detach().clone()
    MoCoQueue.momentum_update(online, target, momentum=0.9)
    torch.testing.assert_close(target.weight, 0.9 * before + 0.1 * online.weight.detach())


def test_moe_fusion_balance_and_weighted_fusion():
    from oneformer3d.robot.models import MoEFusion, WeightedFusion
    x = torch.randn(3, 2, 5, 8)
    fused, aux = MoEFusion(3, 8)(x)
    # zero-initialised gates: uniform mixture, balance term = 1.0 * weight
    torch.testing.assert_close(fused, x.mean(0))
    assert aux['loss_balance'].item() == pytest.approx(0.01)
    wf = WeightedFusion(3, 8)
    torch.testing.assert_close(wf(x)[0], x.mean(0))
    assert wf.weights().sum().item() == pytest.approx(1.0)


def run_train(cfg_name, root, work_dir, iters, extra=()):
    cfg = osp.join(REPO, 'configs/robot', cfg_name)
    opts = [f'{loader}.dataset.data_root={root}'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    opts += ['train_dataloader.dataset.step_range=[0,30]',
             'val_dataloader.dataset.step_range=[30,40]',
             'test_dataloader.dataset.step_range=[30,40]',
             'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
             'train_dataloader.prefetch_factor=None', 'train_dataloader.batch_size=8',
             f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
             f'param_scheduler.T_max={iters}', f'default_hooks.checkpoint.interval={iters}',
             *extra]
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools/train.py'), cfg, '--work-dir',
                          str(work_dir), '--cfg-options', *opts], capture_output=True,
                         text=True, timeout=900, env=dict(__import__('os').environ,
                                                          PYTHONPATH=REPO))
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    import re
    return {k: float(v) for k, v in re.findall(r'retrieval/(\S+): ([0-9.]+)', log)}, log


@pytest.mark.slow
def test_stage1_point_patch_retrieval_above_chance(rlbench_root, tmp_path):
    """Stage 1 through tools/train.py on steps 0-29; held-out steps 30-39: a point's fused
    RGB feature retrieves its own point among the step's visible points far above chance;
    the loss-curve, fusion-weight and similarity PNGs are written."""
    m, log = run_train('align_point_patch_rlbench.py', rlbench_root, tmp_path, 50)
    assert m['point_rgb2pc_R@1'] > 5 * m['point_chance_R@1'], log[-2000:]
    assert m['point_pc2rgb_R@5'] > 2 * m['point_chance_R@5'], log[-2000:]
    for png in ('loss_curves.png', 'fusion_weights.png', 'retrieval_similarity.png'):
        assert (tmp_path / png).is_file(), png


@pytest.mark.slow
def test_distillation_moe_trains(rlbench_root, tmp_path):
    """Route 2 with the MoE fusion runs end to end (windows of 8, CLIP InfoNCE, balance
    term): every iteration's losses (InfoNCE and the Switch balance term) are recorded and
    finite, the recorded gate mixtures are
    distributions that move away from the zero-initialised uniform one, and the held-out
    recalls are exact counts over the 10 held-out samples (R@1 <= R@5)."""
    import json
    m, log = run_train('distill_rgb2pc_rlbench_moe.py', rlbench_root, tmp_path, 10)
    curves = json.loads((tmp_path / 'training_curves.json').read_text())
    assert [i for i, _ in curves['losses']['loss_nce']] == list(range(1, 11))
    assert all(np.isfinite(v) for pts in curves['losses'].values() for _, v in pts)
    assert len(curves['losses']['loss_balance']) == 10
    assert all(v > 0 for _, v in curves['losses']['loss_balance'])
    weights = np.array([w for _, w in curves['fusion_weights']])
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-5)
    assert np.abs(weights[-1] - 1 / weights.shape[1]).max() > 1e-4, weights
    assert m['chance_R@1'] == pytest.approx(0.1)
    for d in ('rgb2pc', 'pc2rgb'):
        r1, r5 = m[f'{d}_R@1'], m[f'{d}_R@5']
        assert r1 <= r5 and round(r1 * 10) == pytest.approx(r1 * 10, abs=1e-3)
        assert round(r5 * 10) == pytest.approx(r5 * 10, abs=1e-3)


def test_retrieval_metric_recalls_and_point_histogram(tmp_path):
    """Identical embeddings retrieve themselves (R@1 = 1); a shifted gallery gives R@1 = 0
    and R@5 = 1 among 6 samples; point-level negatives never include the positive pair."""
    from oneformer3d.robot.evaluation import RetrievalMetric
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(6, 16), dim=-1)
    pts = F.normalize(torch.randn(40, 8), dim=-1)
    metric = RetrievalMetric(out_dir=str(tmp_path))
    metric.process(None, [dict(rgb_emb=emb[i], pc_emb=emb[i], rgb_point_emb=pts,
                               pc_point_emb=pts) for i in range(6)])
    m = metric.compute_metrics(metric.results)
    assert m['rgb2pc_R@1'] == m['point_rgb2pc_R@1'] == 1.0
    assert m['point_chance_R@1'] == pytest.approx(1 / 40)
    pos, neg = metric.results[0][3]
    np.testing.assert_allclose(pos, 1.0, rtol=1e-5)
    assert len(neg) == 400 and (neg < 1 - 1e-4).all()     # distinct random vectors only
    assert (tmp_path / 'retrieval_similarity.png').is_file()
    shifted = RetrievalMetric()
    # query i = emb[i] + 2·emb[i+1]: gallery i+1 outranks the positive gallery i, which stays
    # ahead of the unrelated rest (rank 1 of 6, inside the top 5)
    shifted.process(None, [dict(rgb_emb=emb[i] + 2 * emb[(i + 1) % 6], pc_emb=emb[i])
                           for i in range(6)])
    s = shifted.compute_metrics(shifted.results)
    assert s['rgb2pc_R@1'] == 0.0 and s['rgb2pc_R@5'] == 1.0


def test_infonce_under_ddp_equals_one_process(tmp_path):
    """``torchrun --nproc_per_node=2`` (gloo): ClipInfoNCE (with a MoCo queue) and
    PointPatchInfoNCE use every rank's rows as negatives — the mean of the two ranks' losses
    equals the one-process loss on the same global batch, each rank's row gradients are the
    one-process gradients ×2 (DDP averages over the ranks), and both queues hold the whole
    batch's keys."""
    import importlib.util
    from oneformer3d.robot.models.criteria import ClipInfoNCE, PointPatchInfoNCE
    script = osp.join(REPO, 'tests', 'scripts', 'infonce_ddp.py')
    run_script(['-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29531',
                script, str(tmp_path)], threads=1, timeout=300)
    spec = importlib.util.spec_from_file_location('infonce_ddp', script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    a, b, p, q = [x.requires_grad_(True) for x in mod.global_batch()]
    clip = ClipInfoNCE(queue_size=32, dim=16).train()
    loss_clip = clip(a, b)['loss_nce']
    loss_point = PointPatchInfoNCE(num_pairs=4096)(p, q)['loss_point_nce']
    (loss_clip + loss_point).backward()
    ranks = [torch.load(tmp_path / f'rank{r}.pt', weights_only=True) for r in (0, 1)]
    torch.testing.assert_close((ranks[0]['loss_clip'] + ranks[1]['loss_clip']) / 2, loss_clip)
    torch.testing.assert_close((ranks[0]['loss_point'] + ranks[1]['loss_point']) / 2,
                               loss_point)
    for r in ranks:
        lo, hi = r['rows']
        for got, ref in zip(r['grads'], (a.grad, b.grad, p.grad, q.grad)):
            torch.testing.assert_close(got / 2, ref[lo:hi])
        torch.testing.assert_close(r['queue'], clip.queue.negatives())
    torch.testing.assert_close((ranks[0]['logit_scale_grad'] + ranks[1]['logit_scale_grad'])
                               / 2, clip.logit_scale.grad)
