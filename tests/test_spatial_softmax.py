"""The action head's optional ``keypoints`` slot (spatial soft-argmax over the route's tokens):
its definition against a hand computation on a real ScanNet cloud, the identity of a head with
the slot and the head without it, and the image routes' grid positions against the pooling
that makes their tokens."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from oneformer3d.registry import MODELS
from oneformer3d.robot.models.policy.rgb_teacher import pooled_tokens
from oneformer3d.robot.models.policy.spatial_softmax import grid_positions

init_default_scope('oneformer3d')


def real_points(scannet_scene, k=256, seed=0):
    """K points of the real scene (xyz, m) and their instance labels."""
    pts, _, ins = scannet_scene
    idx = np.random.default_rng(seed).choice(len(pts), k, replace=False)
    return torch.from_numpy(pts[idx, :3].astype(np.float32)), ins[idx]


def test_keypoints_are_expected_positions_under_softmax_maps(scannet_scene):
    """Against numpy on the definition: a_km = softmax_K(W t_k + b)_m, kp_m = sum_k a_km x_k,
    output = W_o vec(kp) + b_o; and a map whose logits are equal and high on one real instance's
    points (zero elsewhere) puts its keypoint at that instance's centroid."""
    xyz, ins = real_points(scannet_scene)
    torch.manual_seed(0)
    kp = MODELS.build(dict(type='SpatialSoftmaxKeypoints', dim=8, num_keypoints=3))
    torch.nn.init.normal_(kp.out.weight)
    tokens = torch.randn(2, len(xyz), 8)
    positions = torch.stack([xyz, xyz + 1.0])
    got = kp(tokens, positions).detach().numpy()
    W, b = kp.logits.weight.detach().numpy(), kp.logits.bias.detach().numpy()
    Wo, bo = kp.out.weight.detach().numpy(), kp.out.bias.detach().numpy()
    for i in range(2):
        z = tokens[i].numpy().astype(np.float64) @ W.T + b            # (K, M)
        a = np.exp(z - z.max(0)) / np.exp(z - z.max(0)).sum(0)
        ref = a.T @ positions[i].numpy().astype(np.float64)             # (M, 3)
        np.testing.assert_allclose(got[i], Wo @ ref.reshape(-1) + bo, rtol=1e-4, atol=1e-4)
    # one map keyed on a real instance: its keypoint is the instance's centroid
    label = np.bincount(ins[ins > 0]).argmax()
    mask = torch.from_numpy(ins == label).float()
    tokens = torch.zeros(1, len(xyz), 8)
    tokens[0, :, 0] = mask
    with torch.no_grad():
        kp.logits.weight.zero_()
        kp.logits.bias.zero_()
        kp.logits.weight[0, 0] = 60.0
        maps = kp.attention(tokens)[0, :, 0]
    centroid = xyz[mask.bool()].mean(0)
    torch.testing.assert_close((maps[:, None] * xyz).sum(0), centroid, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r'positions \(B, K, 3\) for tokens \(1, 256, 8\)'):
        kp(tokens, xyz[None, :, :2])


@pytest.mark.parametrize('route', ['pc', 'packs'])
def test_head_with_keypoints_starts_as_the_head_without(route, scannet_scene):
    """Zero-initialised output: the head with the slot, given the other head's weights, gives
    the same actions on real points (pc route) and on grid tokens (image routes); after one
    optimiser step on the slot's parameters alone the output changes (it is wired in)."""
    xyz, _ = real_points(scannet_scene, k=64)
    torch.manual_seed(1)
    if route == 'pc':
        enc = MODELS.build(dict(type='PointTokenEncoder', in_channels=3 + 5, dim=32))
        inputs = dict(points=torch.cat([xyz, torch.randn(64, 5)], 1)[None].repeat(2, 1, 1))
    else:
        enc = MODELS.build(dict(type='PackTokenEncoder', encoders=dict(rgb=3, dino=6),
                                adapter_dim=16, dim=32))
        inputs = dict(tokens=dict(rgb=torch.rand(2, 16, 3), dino=torch.randn(2, 16, 6)))
    plain = MODELS.build(dict(type='ActionHead', dim=32, heads=4, hidden=64))
    slot = MODELS.build(dict(type='ActionHead', dim=32, heads=4, hidden=64,
                             keypoints=dict(type='SpatialSoftmaxKeypoints', num_keypoints=4)))
    missing = slot.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ['keypoints.logits.bias', 'keypoints.logits.weight',
                               'keypoints.out.bias', 'keypoints.out.weight']
    proprio = torch.randn(2, 8)
    tokens = enc(inputs)
    positions = enc.positions(inputs, tokens)
    assert positions.shape == (2, tokens.shape[1], 3)
    a, b = plain(proprio, tokens), slot(proprio, tokens, positions)
    for key in ('trans', 'rotmat', 'open_logit'):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    opt = torch.optim.SGD(slot.keypoints.parameters(), lr=0.1)
    slot(proprio, tokens.detach(), positions)['trans'].sum().backward()
    opt.step()
    assert not torch.allclose(slot(proprio, tokens, positions)['trans'], a['trans'])


def test_grid_positions_follow_the_pooled_token_order():
    """A feature map holding each pixel's own normalised (u, v) pools (``pooled_tokens``, the
    packs' and the teacher's pooling) to exactly the cell centres ``grid_positions`` gives
    its tokens, encoder-major; a token count that is not E square grids is refused."""
    h = w = 12
    for g in (2, 3, 4):
        u = (torch.arange(w) + 0.5) / w * 2 - 1
        v = (torch.arange(h) + 0.5) / h * 2 - 1
        fmap = torch.stack(torch.meshgrid(u, v, indexing='xy'))[None]     # (1, 2, H, W)
        tok = pooled_tokens(fmap, g)[0]                                    # (G², 2)
        pos = grid_positions(2, g)
        assert pos.shape == (2 * g * g, 3) and (pos[:, 2] == 0).all()
        torch.testing.assert_close(pos[:g * g, :2], tok, atol=1e-6, rtol=0)
        torch.testing.assert_close(pos[g * g:], pos[:g * g])
    enc = MODELS.build(dict(type='PackTokenEncoder', encoders=dict(rgb=3, dino=6),
                            adapter_dim=16, dim=32))
    with pytest.raises(ValueError, match='30 tokens are not 2 square grids'):
        enc.positions({}, torch.zeros(1, 30, 32))
