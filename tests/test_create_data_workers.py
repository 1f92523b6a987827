"""create_data at scale: frames and sequences converted by several processes give the same
bytes as one process (and a resumed run the same as an uninterrupted one), on the real
sensor-depth sequence of scene0000_00; the compiled Felzenszwalb-Huttenlocher merge agrees
with a plain implementation of the paper's algorithm on real points."""
import filecmp
import os
import os.path as osp

import numpy as np
import pytest

from oneformer3d.datasets.preprocessing.scannet_frames import create_scannet_sv_infos
from oneformer3d.datasets.preprocessing.scannet_sequences import create_scannet_mv_infos
from oneformer3d.datasets.preprocessing.superpoints import (_felzenszwalb_merge, graph_edges,
                                                            graph_superpoints)
from oneformer3d.metainfo import SCANNET20
from tests.conftest import data_path, posed_subset


def tree_files(root):
    out = []
    for d, _, files in os.walk(root):
        out += [osp.relpath(osp.join(d, f), root) for f in files]
    return sorted(out)


def assert_same_bytes(a, b):
    files = tree_files(a)
    assert files == tree_files(b)
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors, mismatch + errors


def test_two_workers_write_the_same_bytes_and_a_resumed_run_too(tmp_path):
    posed = data_path('scannet', 'posed_rgbd')
    kw = dict(posed_dir=posed, frame_interval=6, max_points=5000)
    for w in (1, 2):
        create_scannet_sv_infos(data_path('scannet'), str(tmp_path / f'sv{w}'), SCANNET20,
                                'scannet_sv', workers=w, **kw)
        create_scannet_mv_infos(data_path('scannet'), str(tmp_path / f'mv{w}'), SCANNET20,
                                'scannet_mv', workers=w, **kw)
    assert len(os.listdir(tmp_path / 'sv1' / 'frame_infos')) == 10
    assert_same_bytes(tmp_path / 'sv1', tmp_path / 'sv2')
    assert_same_bytes(tmp_path / 'mv1', tmp_path / 'mv2')

    # an interrupted run: three frames without their info (written last), one of them with a
    # truncated points file; resumed with two workers it ends as the uninterrupted run
    infos = sorted(os.listdir(tmp_path / 'sv2' / 'frame_infos'))
    for name in infos[3:6]:
        os.remove(tmp_path / 'sv2' / 'frame_infos' / name)
    points = tmp_path / 'sv2' / 'points' / infos[4].replace('.pkl', '.bin')
    os.truncate(points, 1000)
    reused = tmp_path / 'sv2' / 'points' / infos[0].replace('.pkl', '.bin')
    stamp = os.stat(reused).st_mtime_ns
    create_scannet_sv_infos(data_path('scannet'), str(tmp_path / 'sv2'), SCANNET20,
                            'scannet_sv', workers=2, **kw)
    assert os.stat(reused).st_mtime_ns == stamp  # finished frames are not redone
    assert_same_bytes(tmp_path / 'sv1', tmp_path / 'sv2')


def test_an_error_in_a_worker_names_the_frame(tmp_path):
    posed = posed_subset(str(tmp_path / 'posed_no_meta'), frames=None, meta=False)
    with pytest.raises(ValueError, match=r'posed_images/scene0000_00/\d+\.jpg: its '
                                         r'back-projected points lie a median'):
        create_scannet_mv_infos(data_path('scannet'), str(tmp_path / 'mv'), SCANNET20,
                                'scannet_mv', posed_dir=str(posed), frame_interval=10,
                                max_points=2000, workers=2)
    with pytest.raises(ValueError, match='--workers 0: at least 1 process'):
        create_scannet_sv_infos(data_path('scannet'), str(tmp_path / 'sv'), SCANNET20,
                                'scannet_sv', workers=0)


def felzenszwalb_reference(n, src, dst, w, k, min_size):
    """Felzenszwalb & Huttenlocher (IJCV 2004) Alg. 1 on edges sorted by weight, written
    plainly: a label per point, the smaller component relabelled on a merge; Int(C) is the
    largest weight merged into C. Then components below ``min_size`` merge along the edges in
    the same order. Returns the partition as labels in first-appearance order."""
    label = list(range(n))
    members = {i: [i] for i in range(n)}
    internal = {i: 0.0 for i in range(n)}

    def merge(a, b, weight):
        if len(members[a]) < len(members[b]):
            a, b = b, a
        for m in members[b]:
            label[m] = a
        members[a] += members.pop(b)
        internal[a] = weight if weight is not None else internal[a]

    for a, b, wt in zip(src, dst, w):
        ca, cb = label[a], label[b]
        if ca != cb and wt <= min(internal[ca] + k / len(members[ca]),
                                  internal[cb] + k / len(members[cb])):
            merge(ca, cb, wt)
    for a, b in zip(src, dst):
        ca, cb = label[a], label[b]
        if ca != cb and (len(members[ca]) < min_size or len(members[cb]) < min_size):
            merge(ca, cb, None)
    return first_appearance(np.array(label))


def first_appearance(labels):
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse]


@pytest.fixture(scope='module')
def real_points():
    """~14,000 vertices of the real scan of scene0000_00 (a 2.5 m box), x y z r g b."""
    vert = np.load(data_path('scannet', 'scans', 'scene0000_00_vert.npy'))
    box = np.all(np.abs(vert[:, :2] - [-1.5, 0.0]) < 1.25, axis=1)
    return vert[box].astype(np.float32)


def test_graph_edges_are_the_knn_graph_in_a_total_order(real_points):
    pts = real_points[::5]
    src, dst, w = graph_edges(pts, knn=8, radius=0.06)
    # brute force: each point's 8 nearest others closer than 6 cm, kept from the lower end
    d = np.linalg.norm(pts[:, None, :3].astype(np.float64) - pts[None, :, :3], axis=-1)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1, kind='stable')[:, :8]
    expect = {(i, j) for i in range(len(pts)) for j in near[i] if d[i, j] < 0.06 and i < j}
    assert set(zip(src.tolist(), dst.tolist())) == expect
    key = np.stack([w, src, dst], 1)
    assert np.all(np.diff(w) >= 0)
    ties = np.flatnonzero(np.diff(w) == 0)
    assert np.all((key[ties + 1, 1] > key[ties, 1]) |
                  ((key[ties + 1, 1] == key[ties, 1]) & (key[ties + 1, 2] > key[ties, 2])))


def lattice_corner():
    """A floor and a wall sampled on an exact 3 cm lattice, four colour patches on the floor:
    most edge weights tie exactly (0 inside a patch), so the tie order decides the result."""
    g = np.arange(0, 1.5, 0.03)
    u, v = [a.reshape(-1) for a in np.meshgrid(g, g)]
    floor = np.stack([u, v, np.zeros_like(u)], 1)
    wall = np.stack([np.zeros_like(u) - 0.03, u, v + 0.03], 1)
    colour = np.where(((u > 0.75) ^ (v > 0.75))[:, None], [200, 40, 40], [40, 40, 200])
    rgb = np.concatenate([colour, np.full_like(colour, 128)])
    return np.concatenate([np.concatenate([floor, wall]), rgb], 1).astype(np.float32)


@pytest.mark.parametrize('source', ['real scan', 'lattice (ties)'])
def test_compiled_merge_matches_the_paper_algorithm(source, real_points):
    pts = real_points if source == 'real scan' else lattice_corner()
    src, dst, w = graph_edges(pts)
    if source != 'real scan':
        assert len(w) - len(np.unique(w)) > len(w) // 2  # ties decide the result here
    expect = felzenszwalb_reference(len(pts), src.tolist(), dst.tolist(), w.tolist(), 0.002, 5)
    got = graph_superpoints(pts)
    np.testing.assert_array_equal(first_appearance(got), expect)
    assert 1 < got.max() + 1 < len(pts) / 5
    roots = _felzenszwalb_merge(len(pts), src, dst, w, 0.002, 5)
    assert np.all(roots[roots] == roots)  # every point points at its component's root
