"""The ``pc`` route's token encoder on real clouds: its optional input norm against the
definition of batch normalisation (Ioffe & Szegedy 2015) computed by hand, and why the route
needs it with a random-init point teacher."""
import numpy as np
import torch
from mmengine.registry import init_default_scope

import oneformer3d.robot  # noqa: F401  (registers the robot modules)
from oneformer3d.registry import MODELS

init_default_scope('oneformer3d')


def teacher_clouds(scannet_scene, n=3, k=512):
    """``n`` real clouds at the benchmark's workspace scale: scene0000_00 cropped to a box of the
    Meta-World workspace's size (1.1 x 0.75 x 0.6 m, ~1,200 points, 4 / 5 / 0 m from the scene's
    min corner), centred, K points drawn at random per cloud as the benchmark draws them, with
    the features of its point teacher (random-init PointMLPEncoder, seed 0): (n, K, 3 + 256)."""
    pts = scannet_scene[0]
    lo = pts[:, :3].min(0) + np.array([4.0, 5.0, 0.0])
    keep = ((pts[:, :3] > lo) & (pts[:, :3] < lo + np.array([1.1, 0.75, 0.6]))).all(1)
    crop = pts[keep, :6].copy()
    crop[:, :3] -= crop[:, :3].mean(0)
    rng = np.random.default_rng(0)
    teacher = MODELS.build(dict(type='PointMLPEncoder', seed=0)).eval()
    clouds = []
    for _ in range(n):
        p = torch.from_numpy(crop[rng.choice(len(crop), k, replace=False)])
        with torch.no_grad():
            clouds.append(torch.cat([p[:, :3], teacher(p)], 1))
    return torch.stack(clouds)


def test_input_norm_is_batch_norm_and_default_is_the_identity(scannet_scene):
    """No ``norm_cfg``: tokens = net(points). ``BN1d``: in training each channel is
    standardised over every point of the batch (biased variance), the running statistics
    (cumulative, momentum None) are the batch's mean and unbiased variance, and at test the
    input is ``(x - mean) / sqrt(var + eps)`` with them — computed here in float64."""
    x = teacher_clouds(scannet_scene)
    torch.manual_seed(0)
    plain = MODELS.build(dict(type='PointTokenEncoder', in_channels=x.shape[-1], dim=32))
    torch.testing.assert_close(plain(dict(points=x)), plain.net(x), atol=0, rtol=0)

    enc = MODELS.build(dict(type='PointTokenEncoder', in_channels=x.shape[-1], dim=32,
                            norm_cfg=dict(type='BN1d', momentum=None)))
    enc.net.load_state_dict(plain.net.state_dict())
    flat = x.double().flatten(0, 1).numpy()
    mean, var_b, var_u = flat.mean(0), flat.var(0), flat.var(0, ddof=1)
    eps = enc.norm.eps
    train_in = torch.from_numpy((flat - mean) / np.sqrt(var_b + eps)).float().view_as(x)
    out = enc.train()(dict(points=x))
    torch.testing.assert_close(out, enc.net(train_in), atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(enc.norm.running_mean.numpy(), mean, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(enc.norm.running_var.numpy(), var_u, rtol=1e-3, atol=1e-9)
    test_in = torch.from_numpy((flat - mean) / np.sqrt(var_u + eps)).float().view_as(x)
    torch.testing.assert_close(enc.eval()(dict(points=x)), enc.net(test_in), atol=2e-4,
                               rtol=1e-4)


def test_random_teacher_features_hardly_vary_between_points(scannet_scene):
    """The measured reason for the norm: the random-init teacher's channels vary between the
    points of a real workspace-sized cloud by less than a tenth of their level (its global
    max-pool sets the level; 0.005 vs 0.054 on the benchmark's clouds, docs/robot_sim.md),
    ~1/40 of xyz's spread; after the norm, fitted on these clouds, each channel
    varies between points about as much as it does over the batch (std ~1)."""
    x = teacher_clouds(scannet_scene)
    feat = x[..., 3:]
    within = feat.std(dim=1).mean()                      # between the points of a cloud
    assert within < 0.1 * feat.abs().mean()
    assert within < 0.025 * x[..., :3].std(dim=1).mean()
    enc = MODELS.build(dict(type='PointTokenEncoder', in_channels=x.shape[-1], dim=32,
                            norm_cfg=dict(type='BN1d', momentum=None)))
    enc.train()(dict(points=x))
    with torch.no_grad():
        normed = enc.eval().norm(x.flatten(0, 1)).view_as(x)[..., 3:]
    assert 0.7 < float(normed.std(dim=1).mean()) <= 1.01
