"""pool_rows, the one point -> group reduction: against a per-group loop on real points
(numpy, written out here), with invalid rows, empty groups, 1-D rows and counts."""
import numpy as np
import pytest
import torch

from oneformer3d.models.layers import pool_rows
from tests.helpers.builders import real_points


@pytest.mark.parametrize('reduce', ['mean', 'amax', 'amin', 'sum'])
def test_pool_rows_equals_a_per_group_loop_on_real_points(reduce):
    pts, _ = real_points(n=2000)
    xyz = pts[:, :3].double()
    # 10 cm voxels of the real corner, plus 3 group ids no point falls in
    keys = torch.floor(xyz / 0.1).long()
    _, index = torch.unique(keys, dim=0, return_inverse=True)
    size = int(index.max()) + 4
    valid = torch.from_numpy(np.random.default_rng(0).random(len(index)) > 0.3)
    out, count = pool_rows(pts.double(), index, size, reduce, valid=valid, return_count=True)
    fn = dict(mean=np.mean, amax=np.max, amin=np.min, sum=np.sum)[reduce]
    x, idx, ok = pts.double().numpy(), index.numpy(), valid.numpy()
    for g in range(size):
        rows = x[(idx == g) & ok]
        assert int(count[g]) == len(rows)
        expect = fn(rows, axis=0) if len(rows) else np.zeros(x.shape[1])
        np.testing.assert_allclose(out[g].numpy(), expect, rtol=1e-12, atol=1e-12)
    assert (count == 0).sum() >= 3 and bool((out[count == 0] == 0).all())


def test_pool_rows_takes_1d_rows_and_integers_and_names_a_length_mismatch():
    seen = torch.tensor([3, 7, 5, 1])
    assert pool_rows(seen, torch.tensor([0, 0, 2, 2]), 3, 'amax').tolist() == [7, 0, 5]
    with pytest.raises(ValueError, match='4 rows but 3 indices'):
        pool_rows(seen, torch.tensor([0, 1, 2]), 3)
