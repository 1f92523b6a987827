"""Checkpoints between runs, named by run: ``load_from_run`` and ``partial_load``.

A config that starts from another run's checkpoint names that run (its config's name, as
``work_dirs/<config name>/`` does), not a file path::

    load_from_run = 'ESAM_sv_3dtsa_scannet200'
    partial_load = dict(run='ESAM_online_3dtsa_scannet200', prefix_map={'memory.': 'memory.'},
                        exclude=['memory.conv_convert.*'])
    model = dict(token_encoder=dict(checkpoint='run:align_point_patch_rlbench'))

:func:`resolve_run_links` turns them into mmengine's ``load_from``, a ``PartialLoadHook`` in
``custom_hooks`` and, for a module argument, the path itself (any string ``'run:<run>'``; a
run may carry a folder, ``'run:compare_actions/<config>'`` for a tool that trains under its
own root): the checkpoint is ``<work_root>/<run>/<final checkpoint>``, where the
final checkpoint is the one the run's config ends on (``epoch_<max_epochs>.pth`` or
``iter_<max_iters>.pth``, read from ``configs/**/<run>.py``), so a child never repeats a
schedule written elsewhere. ``work_root`` (default ``'work_dirs'``) moves every parent at once
(``tools/ablation.py`` gives each seed its own). An explicit ``load_from`` or
``partial_load.checkpoint`` wins (e.g. ``--cfg-options load_from=FILE``).

Our :class:`~oneformer3d.engine.Runner` resolves every config it is built from; tools that
inspect a config without a runner call :func:`resolve_run_links` themselves.
:func:`finished_run_files` reads a finished run folder (its dumped config and last checkpoint)
for tools that rebuild a trained model.
"""
import glob
import os.path as osp
from typing import Optional

from mmengine.config import Config

# PartialLoadHook's settings when a config does not write them: every selected key must load
PARTIAL_LOAD_DEFAULTS = dict(on_mismatch='error', max_missing_fraction=0.0)


def configs_root_of(cfg_path: str) -> str:
    """The ``configs`` folder a config file lives under (the nearest ancestor of that name).

    Raises:
        ValueError: the file is not under a folder named ``configs``.
    """
    d = osp.dirname(osp.abspath(cfg_path))
    while d != osp.dirname(d):
        if osp.basename(d) == 'configs':
            return d
        d = osp.dirname(d)
    raise ValueError(f'{cfg_path}: not under a configs/ folder, so a run named by '
                     'load_from_run / partial_load cannot be found; write load_from instead')


def config_of_run(run: str, configs_root: str) -> str:
    """The config file ``<configs_root>/**/<run>.py``.

    Raises:
        FileNotFoundError: no config of that name (the message lists close names).
        ValueError: several configs of that name.
    """
    hits = [p for p in glob.glob(osp.join(configs_root, '**', f'{run}.py'), recursive=True)
            if '_base_' not in p.split(osp.sep)]
    if not hits:
        import difflib
        names = [osp.splitext(osp.basename(p))[0]
                 for p in glob.glob(osp.join(configs_root, '**', '*.py'), recursive=True)]
        close = difflib.get_close_matches(run, names, n=3)
        raise FileNotFoundError(f'run {run!r}: no config {run}.py under {configs_root}'
                                + (f'; did you mean {close}?' if close else ''))
    if len(hits) > 1:
        raise ValueError(f'run {run!r}: several configs of that name: {sorted(hits)}')
    return hits[0]


def final_checkpoint_name(cfg: Config) -> str:
    """The checkpoint a config's training ends on: ``epoch_<max_epochs>.pth`` for an epoch
    loop, ``iter_<max_iters>.pth`` for an iteration loop (mmengine's ``CheckpointHook`` always
    saves the last one).

    Raises:
        ValueError: ``train_cfg`` has neither ``max_epochs`` nor ``max_iters``.
    """
    train_cfg = cfg.get('train_cfg') or {}
    if train_cfg.get('max_iters') is not None and 'Epoch' not in str(train_cfg.get('type', '')):
        return f'iter_{train_cfg["max_iters"]}.pth'
    if train_cfg.get('max_epochs') is not None:
        return f'epoch_{train_cfg["max_epochs"]}.pth'
    raise ValueError(f'{cfg.filename}: train_cfg has neither max_epochs nor max_iters, so '
                     'its final checkpoint is unknown')


RUN_PREFIX = 'run:'


def run_checkpoint(run: str, work_root: str, configs_root: str) -> str:
    """``<work_root>/<run>/<final checkpoint of the run's config>`` (the config is the last
    component of ``run``)."""
    parent = Config.fromfile(config_of_run(osp.basename(run), configs_root))
    return osp.join(work_root, run, final_checkpoint_name(parent))


def _replace_run_refs(node, resolve) -> int:
    """Replace every ``'run:<run>'`` string inside ``node`` (a config, dicts, lists) in
    place."""
    count = 0
    items = node.items() if hasattr(node, 'items') else \
        enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(value, str) and value.startswith(RUN_PREFIX):
            node[key] = resolve(value[len(RUN_PREFIX):])
            count += 1
        elif isinstance(value, (dict, list)):
            count += _replace_run_refs(value, resolve)
    return count


def resolve_run_links(cfg: Config, configs_root: Optional[str] = None) -> Config:
    """Resolve every ``'run:<run>'`` string into its checkpoint path, ``load_from_run`` into
    ``load_from`` (unless ``load_from`` is set or the run resumes) and each ``partial_load``
    entry (a dict or a list of dicts with ``run`` or ``checkpoint`` and
    :class:`~oneformer3d.engine.hooks.PartialLoadHook`'s arguments) into a ``PartialLoadHook``
    appended to ``custom_hooks``. In place; idempotent (the references are replaced, the two
    keys consumed).

    Raises:
        ValueError / FileNotFoundError: a named run has no unique config, or an entry has
            neither ``run`` nor ``checkpoint``.
    """
    run = cfg.get('load_from_run')
    entries = cfg.get('partial_load')
    work_root = cfg.get('work_root') or 'work_dirs'
    root = []

    def resolve(name):
        if not root:
            root.append(configs_root or configs_root_of(cfg.filename))
        return run_checkpoint(name, work_root, root[0])
    _replace_run_refs(cfg, resolve)
    if not run and not entries:
        return cfg
    # on resume mmengine reads load_from as the checkpoint to resume (None: the work dir's
    # latest); the parent is not loaded then
    if run and not cfg.get('load_from') and not cfg.get('resume'):
        cfg.load_from = resolve(run)
    if entries:
        hooks = list(cfg.get('custom_hooks') or [])
        for entry in entries if isinstance(entries, (list, tuple)) else [entries]:
            entry = dict(entry)
            src = entry.pop('run', None)
            if not entry.get('checkpoint'):
                if not src:
                    raise ValueError(f'{cfg.filename}: partial_load entry {entry} names '
                                     'neither run nor checkpoint')
                entry['checkpoint'] = resolve(src)
            hooks.append(dict(PARTIAL_LOAD_DEFAULTS, type='PartialLoadHook', **entry))
        cfg.custom_hooks = hooks
    cfg.pop('load_from_run', None)
    cfg.pop('partial_load', None)
    return cfg


def finished_run_files(work_dir: str) -> tuple:
    """``(config, checkpoint)`` of a finished run folder: the one config the Runner dumped there
    (``*.py``) and the checkpoint ``last_checkpoint`` names (taken beside it when the recorded
    path does not exist, e.g. a folder that was moved).

    Raises:
        FileNotFoundError: not exactly one ``*.py`` or no ``last_checkpoint``, naming the folder.
    """
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    last = osp.join(work_dir, 'last_checkpoint')
    if len(configs) != 1 or not osp.isfile(last):
        raise FileNotFoundError(
            f'{work_dir}: not a finished run (needs exactly one dumped config *.py, found '
            f'{len(configs)}, and last_checkpoint{"" if osp.isfile(last) else ", missing"})')
    with open(last) as fh:
        ckpt = fh.read().strip()
    if not osp.isabs(ckpt) and not osp.isfile(ckpt):
        ckpt = osp.join(work_dir, osp.basename(ckpt))
    return configs[0], ckpt
