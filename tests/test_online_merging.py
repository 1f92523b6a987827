"""Online mergers on real ScanNet instance geometry seen in spatially partial views (slabs of
an instance along its longest axis, as a camera sees part of an object): OnlineInstanceMerger
merges overlapping parts, keeps disjoint instances apart, an empty frame changes nothing;
ESAMOnlineMerger (ESAM's OnlineMerge) merges the two disjoint halves of a wall by embedding and
class logits, keeps another object apart, and its state stays bounded over 100 frames."""
import numpy as np
import pytest
import torch

from oneformer3d.models.online import ESAMOnlineMerger, OnlineInstanceMerger
from oneformer3d.models.online.instance_merger import points_to_voxel_keys, voxel_centres


@pytest.fixture(scope='module')
def instances(scannet_scene):
    """Real instance point sets of scene0000_00 (>= 500 points), xyz tensors."""
    pts, _, ins = scannet_scene
    ids, counts = np.unique(ins[ins > 0], return_counts=True)
    return [torch.from_numpy(pts[ins == i, :3].copy()) for i in ids[counts >= 500]]


def part(xyz, lo, hi):
    """The points of an instance between the ``lo`` and ``hi`` quantiles of its longest axis
    (a spatially partial view)."""
    axis = int(torch.argmax(xyz.max(0).values - xyz.min(0).values))
    a, b = torch.quantile(xyz[:, axis], torch.tensor([lo, hi], dtype=xyz.dtype))
    return xyz[(xyz[:, axis] >= a) & (xyz[:, axis] <= b)]


def view(xyz, lo, hi):
    """Voxel keys of :func:`part`."""
    return points_to_voxel_keys(part(xyz, lo, hi), 0.05)


def test_voxel_keys_round_trip(instances):
    keys = points_to_voxel_keys(instances[0], 0.05)
    centres = voxel_centres(keys, 0.05)
    assert torch.equal(points_to_voxel_keys(centres, 0.05), keys)
    assert (centres[:, None] - instances[0][None, :200]).abs().max(-1).values.min(0).values \
        .max() <= 0.025 + 1e-6       # every point lies in one of the cells


def test_overlapping_parts_of_one_instance_merge(instances):
    merger = OnlineInstanceMerger()
    emb = torch.randn(1, 16)
    first = merger.update([view(instances[3], 0.0, 0.6)], emb, torch.tensor([0.7]),
                          torch.tensor([0]))
    second = merger.update([view(instances[3], 0.4, 1.0)], emb + 0.05 * torch.randn(1, 16),
                           torch.tensor([0.9]), torch.tensor([0]))
    assert first['new'] == 1 and second == dict(new=0, merged=1, kept=0)
    assert len(merger) == 1 and merger.hits.tolist() == [2] and merger.scores.item() == \
        pytest.approx(0.9)
    full = points_to_voxel_keys(instances[3], 0.05)
    assert torch.isin(merger.keys[0], full).all() and len(merger.keys[0]) > 0.9 * len(full)


def test_disjoint_instances_stay_apart(instances):
    a, b = instances[1], instances[5]
    assert not torch.isin(points_to_voxel_keys(a, 0.05), points_to_voxel_keys(b, 0.05)).any()
    merger = OnlineInstanceMerger()
    emb = torch.eye(2, 16)
    merger.update([view(a, 0.0, 0.8)], emb[:1], torch.tensor([0.8]), torch.tensor([0]))
    counts = merger.update([view(b, 0.2, 1.0)], emb[:1], torch.tensor([0.8]), torch.tensor([0]))
    # identical embeddings but no spatial overlap: no merge (min_iou)
    assert counts['new'] == 1 and len(merger) == 2


def test_empty_frame_leaves_state_unchanged(instances):
    merger = OnlineInstanceMerger()
    merger.update([view(i, 0.0, 0.5) for i in instances[:4]], torch.randn(4, 8),
                  torch.rand(4), torch.zeros(4, dtype=torch.long))
    before = ([k.clone() for k in merger.keys], merger.emb.clone(), merger.scores.clone(),
              merger.hits.clone())
    counts = merger.update([], torch.zeros(0, 8), torch.zeros(0),
                           torch.zeros(0, dtype=torch.long))
    assert counts == dict(new=0, merged=0, kept=4)
    assert all(torch.equal(x, y) for x, y in zip(before[0], merger.keys))
    assert torch.equal(before[1], merger.emb) and torch.equal(before[2], merger.scores)
    assert torch.equal(before[3], merger.hits)


def _esam_frame(instances, seen, spans, base, noise=0.1):
    """One frame's inputs for ESAMOnlineMerger: per seen instance a slab view, its embedding
    (the instance's, noisy, unit norm), CA class logits and the slab's centre."""
    parts = [part(instances[i], lo, hi) for i, (lo, hi) in zip(seen, spans)]
    keys = [points_to_voxel_keys(p, 0.05) for p in parts]
    emb = torch.nn.functional.normalize(base[seen] + noise * torch.randn(len(seen),
                                                                         base.shape[1]), dim=-1)
    cls = torch.tensor([[2.0, -2.0]]).repeat(len(seen), 1)
    centres = torch.stack([p.mean(0) for p in parts])
    return keys, emb, torch.rand(len(seen)), torch.zeros(len(seen), dtype=torch.long), cls, \
        centres


def test_esam_merger_joins_two_halves_of_a_wall(instances, scannet_scene):
    """The two disjoint halves of scene0000_00's largest wall, seen in two frames, merge
    (embedding + logits, no overlap needed); a cabinet seen in the second frame with another
    embedding stays apart. The overlap-gated merger keeps the halves apart."""
    pts, sem, ins = scannet_scene
    walls = [i for i in np.unique(ins[sem == 1]) if i > 0]       # NYU40 1: wall
    wall = max(walls, key=lambda i: int((ins == i).sum()))
    chair = max([i for i in np.unique(ins[sem == 3]) if i > 0],  # NYU40 3: cabinet
                key=lambda i: int((ins == i).sum()))
    wall_xyz = torch.from_numpy(pts[ins == wall, :3].copy())
    chair_xyz = torch.from_numpy(pts[ins == chair, :3].copy())
    halves = [part(wall_xyz, 0.0, 0.5), part(wall_xyz, 0.5, 1.0)]
    keys = [points_to_voxel_keys(h, 0.05) for h in halves]
    assert len(np.intersect1d(keys[0].numpy(), keys[1].numpy())) <= 0.05 * len(keys[0])
    e_wall, e_chair = torch.eye(2, 16)
    cls = torch.tensor([[2.0, -2.0]])
    esam, overlap = ESAMOnlineMerger(), OnlineInstanceMerger()
    for merger in (esam, overlap):
        merger.update([keys[0]], e_wall[None], torch.tensor([0.8]), torch.tensor([0]),
                      cls=cls, centres=halves[0].mean(0, keepdim=True))
        merger.update([keys[1], points_to_voxel_keys(chair_xyz, 0.05)],
                      torch.stack([e_wall + 0.05, e_chair]), torch.tensor([0.6, 0.9]),
                      torch.tensor([0, 0]), cls=cls.repeat(2, 1),
                      centres=torch.stack([halves[1].mean(0), chair_xyz.mean(0)]))
    assert len(esam) == 2 and esam.stats['merged'] == 1
    assert torch.equal(esam.keys[0], torch.unique(torch.cat(keys)))
    assert esam.scores[0].item() == pytest.approx((0.8 + 0.6) / 2)     # count-weighted mean
    assert len(overlap) == 3                                           # the halves apart
    # the merged wall covers the whole real wall on the scan
    mask = esam.to_points(pts[:, :3])['pts_instance_mask']
    truth = torch.from_numpy(ins == wall)
    assert (mask[0] & truth).sum() / (mask[0] | truth).sum() > 0.8
    with pytest.raises(ValueError, match='centres'):
        ESAMOnlineMerger().update([keys[0]], e_wall[None], torch.ones(1), torch.zeros(1))


def test_esam_merger_score_and_threshold_by_hand():
    """S = 0.4 <e, e'> + 0.4 cos(c, c') + 0.2 / (d + 1e-6), zeroed at <= 0.8, Hungarian."""
    m = ESAMOnlineMerger()
    k = [torch.tensor([1]), torch.tensor([2])]
    m.update(k, torch.eye(2, 4), torch.tensor([0.5, 0.5]), torch.zeros(2, dtype=torch.long),
             cls=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
             centres=torch.tensor([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]))
    emb, cls = torch.eye(2, 4)[[1]], torch.tensor([[0.0, 1.0]])
    cen = torch.tensor([[4.0, 0.0, 0.0]])
    s = m.similarity(emb, cls, cen)
    assert s[:, 0].tolist() == pytest.approx([0.2 / 4, 0.4 + 0.4 + 0.2], rel=1e-5)
    counts = m.update([torch.tensor([3])], emb, torch.tensor([1.0]), torch.zeros(1),
                      cls=cls, centres=cen)
    assert counts['merged'] == 1 and m.counts.tolist() == [0, 1]
    assert m.geom[1].tolist() == pytest.approx([4.5, 0.0, 0.0])        # (5 * 1 + 4) / 2


def test_esam_merger_state_bounded_over_100_frames(instances):
    """100 frames, each seeing slab views of 3-8 of the real instances with noisy
    per-instance embeddings: the scene keeps about one entry per instance and its size
    saturates (ESAM's reference keeps every frame's masks and grows without bound)."""
    rng = np.random.default_rng(3)
    torch.manual_seed(3)
    base = torch.nn.functional.normalize(torch.randn(len(instances), 32), dim=-1)
    merger = ESAMOnlineMerger()
    sizes = []
    for _ in range(100):
        seen = rng.choice(len(instances), rng.integers(3, 9), replace=False)
        lo = rng.uniform(0.0, 0.5, len(seen))
        spans = list(zip(lo, lo + rng.uniform(0.3, 0.5, len(seen))))
        keys, emb, scores, labels, cls, centres = _esam_frame(instances, seen, spans, base)
        merger.update(keys, emb, scores, labels, cls=cls, centres=centres)
        sizes.append(merger.state_nbytes())
    all_keys = sum(len(points_to_voxel_keys(i, 0.05)) for i in instances)
    # about one entry per instance (ESAM's unbounded 1 / d term can join two instances whose
    # centres nearly coincide, after which one of them starts a new entry)
    assert len(merger) <= len(instances) + 3
    assert sizes[-1] <= all_keys * 8 + len(instances) * 400       # bounded by the geometry
    # saturating: the second 50 frames add little (new slabs of already-seen instances)
    assert sizes[99] - sizes[49] < 0.3 * (sizes[49] - sizes[0])
    assert merger.stats['frames'] == 100 and merger.stats['evicted'] == 0


def test_max_instances_evicts_lowest_scores(instances):
    merger = OnlineInstanceMerger(max_instances=3)
    keys = [view(i, 0.0, 0.9) for i in instances[:6]]
    merger.update(keys, torch.eye(6, 8), torch.tensor([0.1, 0.9, 0.2, 0.8, 0.3, 0.7]),
                  torch.zeros(6, dtype=torch.long))
    assert len(merger) == 3 and merger.stats['evicted'] == 3
    assert sorted(merger.scores.tolist()) == pytest.approx([0.7, 0.8, 0.9])


def test_mapping_onto_the_scan(instances, scannet_scene):
    """Scene instances -> scan points by nearest voxel centre (cKDTree): an instance merged
    from two overlapping part views covers the points of the real instance it came from."""
    pts, _, ins = scannet_scene
    merger = OnlineInstanceMerger()
    for lo, hi in ((0.0, 0.6), (0.4, 1.0)):
        merger.update([view(instances[2], lo, hi)], torch.ones(1, 4), torch.ones(1),
                      torch.zeros(1, dtype=torch.long))
    mask = merger.to_points(pts[:, :3])['pts_instance_mask'][0].numpy()
    xyz = instances[2].numpy()
    truth = np.isin(pts[:, :3].view([('', pts.dtype)] * 3).ravel(),
                    xyz.view([('', xyz.dtype)] * 3).ravel())
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.5, iou


def test_esam_merger_eviction_keeps_its_extra_state_aligned():
    m = ESAMOnlineMerger(max_instances=2)
    m.update([torch.tensor([i]) for i in range(3)], torch.eye(3, 4),
             torch.tensor([0.2, 0.9, 0.5]), torch.zeros(3, dtype=torch.long),
             cls=torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]]),
             centres=torch.tensor([[0.0] * 3, [1.0] * 3, [2.0] * 3]))
    assert len(m) == 2 and m.stats['evicted'] == 1
    assert m.scores.tolist() == pytest.approx([0.9, 0.5])
    assert m.geom[:, 0].tolist() == [1.0, 2.0] and m.cls[:, 0].tolist() == [1.0, 2.0]
    assert len(m.counts) == 2 and [int(k) for k in m.keys] == [1, 2]
