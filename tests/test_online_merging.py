"""OnlineInstanceMerger on real ScanNet instance geometry: the same instance from two frames
merges, disjoint instances stay apart, an empty frame changes nothing, state stays bounded."""
import numpy as np
import pytest
import torch

from oneformer3d.models.online.instance_merger import (OnlineInstanceMerger,
                                                       points_to_voxel_keys, voxel_centres)


@pytest.fixture(scope='module')
def instances(scannet_scene):
    """Real instance point sets of scene0000_00 (>= 500 points), xyz tensors."""
    pts, _, ins = scannet_scene
    ids, counts = np.unique(ins[ins > 0], return_counts=True)
    return [torch.from_numpy(pts[ins == i, :3].copy()) for i in ids[counts >= 500]]


def view(xyz, frac, rng):
    """A partial view: a random ``frac`` of the instance's points."""
    keep = rng.choice(len(xyz), max(1, int(frac * len(xyz))), replace=False)
    return points_to_voxel_keys(xyz[keep], 0.05)


def test_voxel_keys_round_trip(instances):
    keys = points_to_voxel_keys(instances[0], 0.05)
    centres = voxel_centres(keys, 0.05)
    assert torch.equal(points_to_voxel_keys(centres, 0.05), keys)
    assert (centres[:, None] - instances[0][None, :200]).abs().max(-1).values.min(0).values \
        .max() <= 0.025 + 1e-6       # every point lies in one of the cells


def test_same_instance_in_two_frames_merges(instances):
    rng = np.random.default_rng(0)
    merger = OnlineInstanceMerger()
    emb = torch.randn(1, 16)
    first = merger.update([view(instances[3], 0.6, rng)], emb, torch.tensor([0.7]),
                          torch.tensor([0]))
    second = merger.update([view(instances[3], 0.6, rng)], emb + 0.05 * torch.randn(1, 16),
                           torch.tensor([0.9]), torch.tensor([0]))
    assert first['new'] == 1 and second == dict(new=0, merged=1, kept=0)
    assert len(merger) == 1 and merger.hits.tolist() == [2] and merger.scores.item() == \
        pytest.approx(0.9)
    full = points_to_voxel_keys(instances[3], 0.05)
    assert torch.isin(merger.keys[0], full).all() and len(merger.keys[0]) > 0.7 * len(full)


def test_disjoint_instances_stay_apart(instances):
    rng = np.random.default_rng(1)
    a, b = instances[1], instances[5]
    assert not torch.isin(points_to_voxel_keys(a, 0.05), points_to_voxel_keys(b, 0.05)).any()
    merger = OnlineInstanceMerger()
    emb = torch.eye(2, 16)
    merger.update([view(a, 0.8, rng)], emb[:1], torch.tensor([0.8]), torch.tensor([0]))
    counts = merger.update([view(b, 0.8, rng)], emb[:1], torch.tensor([0.8]), torch.tensor([0]))
    # identical embeddings but no spatial overlap: no merge (min_iou)
    assert counts['new'] == 1 and len(merger) == 2


def test_empty_frame_leaves_state_unchanged(instances):
    rng = np.random.default_rng(2)
    merger = OnlineInstanceMerger()
    merger.update([view(i, 0.5, rng) for i in instances[:4]], torch.randn(4, 8),
                  torch.rand(4), torch.zeros(4, dtype=torch.long))
    before = ([k.clone() for k in merger.keys], merger.emb.clone(), merger.scores.clone(),
              merger.hits.clone())
    counts = merger.update([], torch.zeros(0, 8), torch.zeros(0),
                           torch.zeros(0, dtype=torch.long))
    assert counts == dict(new=0, merged=0, kept=4)
    assert all(torch.equal(x, y) for x, y in zip(before[0], merger.keys))
    assert torch.equal(before[1], merger.emb) and torch.equal(before[2], merger.scores)
    assert torch.equal(before[3], merger.hits)


def test_state_bounded_over_100_frames(instances):
    """100 frames, each seeing a random partial view of 3-8 of the real instances with noisy
    per-instance embeddings: the scene keeps one entry per instance and its size saturates
    (ESAM's reference keeps every frame's masks and grows without bound)."""
    rng = np.random.default_rng(3)
    base = torch.nn.functional.normalize(torch.randn(len(instances), 32), dim=-1)
    merger = OnlineInstanceMerger()
    sizes = []
    for _ in range(100):
        seen = rng.choice(len(instances), rng.integers(3, 9), replace=False)
        keys = [view(instances[i], rng.uniform(0.3, 0.8), rng) for i in seen]
        emb = base[seen] + 0.1 * torch.randn(len(seen), 32)
        merger.update(keys, emb, torch.rand(len(seen)), torch.zeros(len(seen),
                                                                    dtype=torch.long))
        sizes.append(merger.state_nbytes())
    all_keys = sum(len(points_to_voxel_keys(i, 0.05)) for i in instances)
    assert len(merger) <= len(instances)
    assert sizes[-1] <= all_keys * 8 + len(instances) * 200       # bounded by the geometry
    assert sizes[-1] <= 1.1 * sizes[49]                              # flat in the 2nd half
    assert merger.stats['frames'] == 100 and merger.stats['evicted'] == 0


def test_max_instances_evicts_lowest_scores(instances):
    rng = np.random.default_rng(4)
    merger = OnlineInstanceMerger(max_instances=3)
    keys = [view(i, 0.9, rng) for i in instances[:6]]
    merger.update(keys, torch.eye(6, 8), torch.tensor([0.1, 0.9, 0.2, 0.8, 0.3, 0.7]),
                  torch.zeros(6, dtype=torch.long))
    assert len(merger) == 3 and merger.stats['evicted'] == 3
    assert sorted(merger.scores.tolist()) == pytest.approx([0.7, 0.8, 0.9])


def test_mapping_onto_the_scan(instances, scannet_scene):
    """Scene instances -> scan points by nearest voxel centre (cKDTree): an instance merged
    from two half views covers the points of the real instance it came from."""
    pts, _, ins = scannet_scene
    rng = np.random.default_rng(5)
    merger = OnlineInstanceMerger()
    for _ in range(2):
        merger.update([view(instances[2], 0.5, rng)], torch.ones(1, 4), torch.ones(1),
                      torch.zeros(1, dtype=torch.long))
    mask = merger.to_points(pts[:, :3])['pts_instance_mask'][0].numpy()
    xyz = instances[2].numpy()
    truth = np.isin(pts[:, :3].view([('', pts.dtype)] * 3).ravel(),
                    xyz.view([('', xyz.dtype)] * 3).ravel())
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.5, iou
