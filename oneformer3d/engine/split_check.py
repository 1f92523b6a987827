"""Splits never leak: a run's training and held-out datasets share no episode (or scene).

Datasets that name their split as a list (``episodes``, ``scenes``) check that list themselves
(:func:`check_split`: no duplicate, not empty); :func:`check_config_splits`, called by the
Runner on every config, checks that ``train_dataloader``'s list and ``val_dataloader`` /
``test_dataloader``'s lists are disjoint (or the shared episodes split by disjoint
``step_range`` values) and that a held-out dataset's constant baseline
(``const_episodes``) is computed on the training episodes — whether the lists come from the
config file or from ``--cfg-options``.
"""
from typing import Sequence

SPLIT_KEYS = ('episodes', 'scenes')


def check_split(names: Sequence[str], source: str) -> list:
    """``names`` as a list.

    Raises:
        ValueError: naming ``source`` when the list is empty or holds a name twice (a
            duplicate would silently weigh that episode twice).
    """
    names = list(names)
    if not names:
        raise ValueError(f'{source}: the split is empty (no episode or scene to read)')
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ValueError(f'{source}: {dups} listed more than once')
    return names


def _dataset(cfg, loader: str):
    loader_cfg = cfg.get(loader)
    if not loader_cfg:
        return None
    ds = loader_cfg.get('dataset')
    while ds is not None and 'dataset' in ds and not any(k in ds for k in SPLIT_KEYS):
        ds = ds['dataset']        # wrappers (RepeatDataset, ...)
    return ds


def _disjoint_steps(a, b) -> bool:
    """Two ``[start, stop)`` step ranges that do not overlap (False when either is None)."""
    return a is not None and b is not None and (a[1] <= b[0] or b[1] <= a[0])


def check_config_splits(cfg) -> None:
    """Raises ``ValueError`` naming the config keys and the shared names when the training
    split overlaps a held-out one, or when a held-out dataset's ``const_episodes`` are not the
    training episodes."""
    train = _dataset(cfg, 'train_dataloader')
    if train is None:
        return
    for key in SPLIT_KEYS:
        if train.get(key) is None:
            continue
        seen = set(train[key])
        for loader in ('val_dataloader', 'test_dataloader'):
            held = _dataset(cfg, loader)
            if held is None or held.get(key) is None:
                continue
            shared = sorted(seen & set(held[key]))
            if shared and _disjoint_steps(train.get('step_range'), held.get('step_range')):
                shared = []     # one episode split by steps (disjoint step ranges)
            if shared:
                raise ValueError(
                    f'{loader}.dataset.{key} shares {shared} with train_dataloader.dataset.'
                    f'{key}: a held-out result on training data. Give disjoint lists')
            const = held.get('const_episodes')
            if key == 'episodes' and const is not None and sorted(const) != sorted(seen):
                raise ValueError(
                    f'{loader}.dataset.const_episodes {list(const)} are not the training '
                    f'episodes {list(train[key])}: the constant baseline must come from the '
                    f'training split. Set *.dataset.const_episodes to the same list')
