"""The detector's ``pool`` slot: ESAM's GeoAwarePooling against its definition written out
superpoint by superpoint (xuxw98/ESAM oneformer3d/geo_aware_pool.py @ 84f70457), on real
points with real superpoints; the default slot is the plain mean."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from oneformer3d.datasets.preprocessing.superpoints import compute_superpoints
from oneformer3d.models.layers import GeoAwarePooling, SuperpointMeanPool
from oneformer3d.registry import MODELS
from tests.conftest import REPO, data_path
from tests.helpers.builders import build_model, make_batch, real_points


def _real_superpoints():
    """Every vertex of a 1 m x 1 m corner of scene0000_00 and its graph superpoints."""
    pts = np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy'))
    lo = pts[:, :2].min(0)
    pts = pts[(pts[:, 0] < lo[0] + 1) & (pts[:, 1] < lo[1] + 1)]
    sp = torch.from_numpy(np.asarray(compute_superpoints(pts[:, :6])))
    uniq, p2s = torch.unique(sp, return_inverse=True)
    return torch.from_numpy(pts).float(), p2s, len(uniq)


def geo_aware_reference(pool, feats, p2s, xyz, num_sp):
    """ESAM's formula, one superpoint at a time."""
    out = []
    for s in range(num_sp):
        sel = p2s == s
        x, f = xyz[sel], feats[sel]
        diameter = (x.max(0).values - x.min(0).values).max()
        u = (x - x.mean(0)) / (diameter + 1e-2)
        g = pool.pts_proj1(u)
        geo = g.max(0).values
        w = pool.pts_proj2(torch.cat([g, geo.expand_as(g)], 1)) * 2      # (P, 1)
        out.append((w * f).mean(0) + geo)
    return torch.stack(out)


def test_geo_aware_pooling_equals_esam_definition_on_real_superpoints():
    torch.manual_seed(0)
    pts, p2s, num_sp = _real_superpoints()
    assert int((torch.bincount(p2s) >= 5).sum()) > 100     # superpoints of many points
    pool = GeoAwarePooling(channel_proj=16)
    feats = torch.randn(len(pts), 16, requires_grad=True)
    xyz = pts[:, :3].float()
    got, weight = pool(feats, p2s, xyz, num_sp)
    ref = geo_aware_reference(pool, feats, p2s, xyz, num_sp)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)   # summation order
    assert weight.shape == (len(pts),) and bool(((weight > 0) & (weight < 2)).all())
    g = torch.randn_like(got)
    for a, b in zip(torch.autograd.grad((got * g).sum(), [feats, *pool.parameters()]),
                    torch.autograd.grad((ref * g).sum(), [feats, *pool.parameters()])):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)
    # translation-invariant: the positions are normalised inside each superpoint
    moved, _ = pool(feats, p2s, xyz + torch.tensor([3.0, -2.0, 1.0]), num_sp)
    torch.testing.assert_close(moved, got, atol=1e-4, rtol=1e-4)   # fp32 rounding of xyz
    with pytest.raises(ValueError, match='channel_proj=16'):
        pool(torch.randn(len(pts), 8), p2s, xyz, num_sp)


def test_mean_pool_is_the_superpoint_mean():
    pts, p2s, num_sp = _real_superpoints()
    got, w = SuperpointMeanPool()(pts, p2s, pts[:, :3], num_sp)
    assert w is None
    for s in (0, num_sp // 2, num_sp - 1):
        torch.testing.assert_close(got[s], pts[p2s == s].mean(0))


def test_detector_pool_slot_trains_geo_aware_pooling():
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, 'configs/oneformer3d/overfit_scene.py'))
    cfg.model.pool = dict(type='GeoAwarePooling', channel_proj=96)
    model = MODELS.build(cfg.model)
    default = build_model()
    assert isinstance(default.pool, SuperpointMeanPool)
    assert not any(k.startswith('pool.') for k in default.state_dict())
    pts, ins = real_points()
    data = model.data_preprocessor(make_batch(pts, ins), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    sum(losses.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.pool.parameters())
