"""Posed frames converted across processes: ``create_data.py scannet*_sv|_mv --workers N``.

The frames are cut into chunks of consecutive frames of one scene (a chunk never spans two
scenes, so a worker reads a scene's scan once for the chunk) and converted by a
``multiprocessing`` pool (``fork``; each worker limited to one BLAS/OpenMP thread by
``threadpoolctl`` so that N workers use N cores); results come back in frame order. With
``workers=1`` the same chunks are converted in this process. Nothing a frame produces
depends on which process converts it or on the frames converted before it (each frame's
point sampling is seeded by its own name, :func:`frame_rng`), so the output with N workers is
byte-identical to one worker's, and a resumed run's to an uninterrupted one's.
"""
import math
import pickle
import zlib
from contextlib import ExitStack
from functools import partial
from multiprocessing import get_context
from typing import Callable, Iterator, List

import numpy as np
from tqdm import tqdm

from ..infos_io import loads_pickle

_SCANS = {}  # this process's ScanCache per (root, class table): one scan kept at a time


def frame_rng(seed: int, scene: str, frame: str) -> np.random.Generator:
    """The random generator of one frame: seeded by ``seed`` and the frame's name (CRC-32 of
    ``<scene>_<frame>``), independent of the process and of the other frames."""
    return np.random.default_rng([int(seed), zlib.crc32(f'{scene}_{frame}'.encode())])


def chunk_frames(frames: List[dict], workers: int) -> List[List[dict]]:
    """Consecutive frames of one scene, about ``4 * workers`` chunks in all (at least 4
    frames each unless a scene has fewer), so every worker stays busy while the scans are
    read once per chunk."""
    size = max(4, math.ceil(len(frames) / (4 * max(1, workers))))
    chunks = []
    for fr in frames:
        if chunks and chunks[-1][-1]['scene'] == fr['scene'] and len(chunks[-1]) < size:
            chunks[-1].append(fr)
        else:
            chunks.append([fr])
    return chunks


def _worker_init() -> None:
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    _SCANS.clear()


def _convert_chunk(convert: Callable, root: str, table, kwargs: dict, chunk: List[dict]):
    from .scannet_frames import ScanCache
    key = (root, table.name)
    if key not in _SCANS:
        _SCANS[key] = ScanCache(root, table)
    # every result crosses a pickle, in a worker or not: objects shared between frames (an
    # interned string, one alignment matrix) would otherwise pickle as memo references in one
    # process and as copies from several, and the infos would differ in bytes
    return [pickle.dumps(convert(fr, _SCANS[key], **kwargs)) for fr in chunk]


def map_frames(convert: Callable, frames: List[dict], scan_root: str, scan_table,
               workers: int = 1, desc: str = 'create_data', **kwargs) -> Iterator:
    """``convert(frame, scans, **kwargs)`` for every frame, yielded in the frames' order.

    Args:
        convert: a module-level function (it is pickled to the workers by reference);
            ``scans`` is the process's :class:`~.scannet_frames.ScanCache` of ``scan_root``
            (the dataset root) and ``scan_table`` (its :class:`~oneformer3d.metainfo.ClassTable`).
        workers: processes; 1 converts in this process.

    Raises:
        ValueError: ``workers`` < 1. An exception raised by ``convert`` in a worker is
            raised here with its message (the pool is then terminated).
    """
    if workers < 1:
        raise ValueError(f'--workers {workers}: at least 1 process is needed')
    run = partial(_convert_chunk, convert, scan_root, scan_table, kwargs)
    chunks = chunk_frames(frames, workers)
    with ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=len(frames), desc=desc, unit='frame'))
        if workers == 1:
            _SCANS.clear()
            # the chunks cross a pickle as a pool's tasks do: the frames' arrays then carry
            # the same (unpickled) objects in either case
            results = (run(loads_pickle(pickle.dumps(c), 'create_data frames', 'frames'))
                       for c in chunks)
        else:
            pool = stack.enter_context(get_context('fork').Pool(
                min(workers, len(chunks)), initializer=_worker_init))
            results = pool.imap(run, chunks)
        for chunk_results in results:
            for res in chunk_results:
                bar.update(1)
                yield loads_pickle(res, 'a converted frame', 'frame results')
    _SCANS.clear()
