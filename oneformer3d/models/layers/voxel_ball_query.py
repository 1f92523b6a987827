"""Ball query on a sparse voxel grid with sorted voxel keys (no compiled dependency)."""
import math
from typing import List, NamedTuple, Tuple

import torch


def _orbit_key(offsets: torch.Tensor, r: int) -> torch.Tensor:
    """(O,) int64 key: squared length, then the mirror orbit ``(|dx|, |dy|, |dz|)``."""
    n = 2 * r + 1
    a = offsets.abs()
    return (offsets ** 2).sum(1) * n ** 3 + (a[:, 0] * n + a[:, 1]) * n + a[:, 2]


def ball_offsets(radius: float) -> torch.Tensor:
    """Integer offsets ``d`` with ``|d| <= radius`` (cells), nearest first. (O, 3) int64.

    Offsets at equal distance are grouped by mirror orbit — the offsets equal up to the
    signs of their components, ``(±dx, ±dy, ±dz)`` — orbits in lexicographic order of
    ``(|dx|, |dy|, |dz|)``, each orbit's members consecutive (lexicographic). The centre
    comes first.
    """
    r = int(math.floor(radius))
    rng = torch.arange(-r, r + 1)
    grid = torch.stack(torch.meshgrid(rng, rng, rng, indexing='ij'), dim=-1).reshape(-1, 3)
    grid = grid[grid.float().norm(dim=1) <= radius + 1e-6]
    return grid[torch.argsort(_orbit_key(grid, r), stable=True)]


def ball_offset_orbits(offsets: torch.Tensor) -> torch.Tensor:
    """(O,) int64 mirror-orbit id of each row of :func:`ball_offsets` (ascending, 0 = the
    centre)."""
    r = int(offsets.abs().max()) if len(offsets) else 0
    return torch.unique_consecutive(_orbit_key(offsets, r), return_inverse=True)[1]


def voxel_ball_query(coords: torch.Tensor, radius: float, max_neighbors: int,
                     tensor_stride: int = 1
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Up to ``max_neighbors`` nearest occupied voxels within ``radius`` cells of each voxel,
    with no preferred direction.

    The voxels' keys ``(b, i, j, k)`` are packed into one int64, sorted once, and every
    offset of :func:`ball_offsets` is looked up with ``torch.searchsorted`` (O lookups of
    M keys; the same neighbourhood an ME kernel map of that size gives, restricted to the
    ball). Each voxel is its own first neighbour.

    Cap: the occupied neighbours are taken nearest first, a whole mirror orbit of
    :func:`ball_offsets` at a time (the occupied ones among ``(±dx, ±dy, ±dz)``); the first
    orbit whose occupied members do not all fit in ``max_neighbors`` is dropped, and with it
    everything farther. Tied offsets are never split by a fixed order, so the kept set is
    mirror-symmetric wherever the occupancy is: on a fully occupied block with K = 16 at
    radius 2 the centre keeps itself, the 6 face neighbours and the 8 edge neighbours
    ``(±1, 0, ±1)``, ``(0, ±1, ±1)`` — 15 — instead of 9 of the 12 edge neighbours with the
    dropped ones all on the +x side. Fewer than ``max_neighbors`` can therefore be kept
    although more are occupied.

    Args:
        coords: (M, 4) int ``[batch, i, j, k]`` (an ``ME.SparseTensor``'s ``C``), unique.
        radius: ball radius in cells of this tensor's grid (cell = ``tensor_stride`` input
            voxels).
        max_neighbors: K.
        tensor_stride: the coordinates' stride (ME coordinates are multiples of it).

    Returns:
        ``index`` (M, K) int64 rows into ``coords`` (0 where padded), ``mask`` (M, K) bool
        (True = a real neighbour), ``offset`` (M, K, 3) float32 relative position in cells
        (zeros where padded) and ``offset_id`` (M, K) int64, the row of
        :func:`ball_offsets` (``O`` where padded): per-offset quantities (a relative-position
        embedding) can be computed once per offset and gathered.
    """
    coords = coords.long()
    offsets = ball_offsets(radius).to(coords.device)
    r = int(offsets.abs().max()) if len(offsets) else 0
    xyz = torch.div(coords[:, 1:], tensor_stride, rounding_mode='floor')
    xyz = xyz - xyz.min(0).values + r
    size = xyz.max(0).values + r + 1

    def pack(b, p):
        return ((b * size[0] + p[:, 0]) * size[1] + p[:, 1]) * size[2] + p[:, 2]

    keys = pack(coords[:, 0], xyz)
    sorted_keys, order = keys.sort()
    m = len(keys)
    found, rows = [], []
    for off in offsets:
        q = pack(coords[:, 0], xyz + off)
        pos = torch.searchsorted(sorted_keys, q).clamp(max=m - 1)
        found.append(sorted_keys[pos] == q)
        rows.append(order[pos])
    found = torch.stack(found, 1)                      # (M, O)
    rows = torch.stack(rows, 1)
    # occupied neighbours up to the end of each offset's orbit: an orbit is kept when all of
    # them fit (monotone in the offset order, so everything after a dropped orbit drops too)
    orbit = ball_offset_orbits(offsets)
    per_orbit = torch.zeros(m, int(orbit.max()) + 1, dtype=torch.long, device=coords.device)
    per_orbit.index_add_(1, orbit, found.long())
    keep = found & (per_orbit.cumsum(1)[:, orbit] <= max_neighbors)
    rank = keep.long().cumsum(1) - 1
    i, o = keep.nonzero(as_tuple=True)
    index = coords.new_zeros(m, max_neighbors)
    mask = torch.zeros(m, max_neighbors, dtype=torch.bool, device=coords.device)
    rel = torch.zeros(m, max_neighbors, 3, device=coords.device)
    oid = torch.full((m, max_neighbors), len(offsets), dtype=torch.long, device=coords.device)
    slot = rank[i, o]
    index[i, slot] = rows[i, o]
    mask[i, slot] = True
    rel[i, slot] = offsets[o].float()
    oid[i, slot] = o
    return index, mask, rel, oid


class NeighborGroups(NamedTuple):
    """Voxels grouped by their number of real neighbours (see
    :func:`group_by_neighbor_count`): ``rows`` (M,) int64, a permutation of the voxels in
    group order; ``index`` (P,) int64 and ``offset_id`` (P,) int64, the real neighbour rows
    and ball-offset ids of those voxels, row-major (P = total real pairs); ``sizes`` the
    ``(R_n, n)`` of each group (R_n voxels with n neighbours each); ``inverse`` (M,) int64,
    the permutation undoing ``rows``."""
    rows: torch.Tensor
    index: torch.Tensor
    offset_id: torch.Tensor
    sizes: List[Tuple[int, int]]
    inverse: torch.Tensor


def group_by_neighbor_count(index: torch.Tensor, mask: torch.Tensor, offset_id: torch.Tensor
                            ) -> NeighborGroups:
    """Drop the padding of a neighbourhood (:func:`voxel_ball_query`): group the voxels by
    their number ``n`` of real neighbours, so per-neighbour work runs on the real pairs only
    (on a depth frame's voxels about half of K = 16 slots are padding) in dense
    (R_n, n, ...) blocks.

    Relies on the real neighbours of a row filling its first slots (as
    :func:`voxel_ball_query` returns them).

    Args:
        index, mask, offset_id: (M, K) as returned by :func:`voxel_ball_query`.

    Returns:
        :class:`NeighborGroups`, groups in ascending ``n``.
    """
    count = mask.sum(1)
    order = torch.argsort(count, stable=True)
    values, sizes = torch.unique_consecutive(count[order], return_counts=True)
    pairs, oids, shapes = [], [], []
    for n, rows in zip(values.tolist(), order.split(sizes.tolist())):
        pairs.append(index[rows, :n].reshape(-1))
        oids.append(offset_id[rows, :n].reshape(-1))
        shapes.append((len(rows), n))
    return NeighborGroups(order, torch.cat(pairs), torch.cat(oids), shapes,
                          torch.argsort(order))
