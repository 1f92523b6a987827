"""The fusion ablation's route table: which config each row trains, what it starts from, which
row is its control and what it may differ from that control in (``tools/ablation.py``).

Rule (fair comparison): a row differs from its control only in the module under test and in
the recipe fields its route declares; a row whose parent checkpoint differs from the control's
is allowed that difference only when the two parents are themselves a declared (row, control)
pair. :func:`undeclared_differences` checks it on the resolved configs.
"""
import os
import os.path as osp
import re
from collections import namedtuple
from typing import Dict, List, Optional

from mmengine.config import Config

from .run_links import resolve_run_links

# label: the table's route name; mode SV/MV; folder/config: configs/<folder>/<config>_<suffix>.py;
# schedule: which --*-iters option shortens it; needs: {'load_from': row, 'hook': row} (the
# checkpoints given to load_from / the PartialLoadHook); control: the row it is compared with;
# declared: recipe fields (RECIPE_FIELDS) it may differ from the control in; change: the
# table's text for the difference.
Route = namedtuple('Route', 'label mode folder config schedule needs control declared change')
SCHEDULE_CHANGE = ('optim_wrapper', 'param_scheduler', 'train_cfg')
ROUTES = {
    'sv_3d': Route('3D', 'SV', 'esam', 'ESAM_sv_3d', 'sv', {}, None, (),
                   'baseline (ESAM SV CA model, ablation recipe)'),
    'online_3d': Route('3D', 'MV', 'esam', 'ESAM_online_3d', 'mv', {'load_from': 'sv_3d'},
                       None, (), 'baseline (ESAM online: memory, boxes, merge head)'),
    'sv_3dtsa': Route('3D+Tiny-SA', 'SV', 'esam', 'ESAM_sv_3dtsa', 'sv', {}, 'sv_3d',
                      ('model.neck',), '+ Tiny-SA neck'),
    'online_3dtsa': Route('3D+Tiny-SA', 'MV', 'esam', 'ESAM_online_3dtsa', 'mv',
                          {'load_from': 'sv_3dtsa'}, 'online_3d', ('model.neck',),
                          '+ Tiny-SA neck'),
    'sv_3dtsa_long': Route('3D+Tiny-SA as long', 'SV', 'esam', 'ESAM_sv_3dtsa_long', 'long',
                           {'load_from': 'sv_3dtsa'}, 'sv_3dtsa',
                           SCHEDULE_CHANGE + ('load_from',),
                           "+ BiFusion's schedule (lr 5e-4, 2000 warm-up, 160 more epochs)"),
    'online_3dtsa_long': Route('3D+Tiny-SA as long', 'MV', 'esam', 'ESAM_online_3dtsa_long',
                               'long_mv', {'load_from': 'sv_3dtsa_long', 'hook': 'online_3dtsa'},
                               'online_3dtsa', SCHEDULE_CHANGE + ('custom_hooks',),
                               "+ BiFusion's schedule; memory, merge head from 3D+Tiny-SA MV"),
    'sv_bifusion': Route('BiFusion', 'SV', 'esam', 'ESAM_sv_bifusion', 'long',
                         {'load_from': 'sv_3dtsa'}, 'sv_3dtsa_long', (), '+ BiFusion encoder'),
    'online_bifusion': Route('BiFusion', 'MV', 'esam', 'ESAM_online_bifusion', 'long_mv',
                             {'load_from': 'sv_bifusion', 'hook': 'online_3dtsa'},
                             'online_3dtsa_long', (), '+ BiFusion encoder'),
    'sv_3d_ft': Route('3D fine-tuned', 'SV', 'dino', 'ESAM_sv_3d_finetune', 'ft',
                      {'load_from': 'sv_3d'}, 'sv_3d', SCHEDULE_CHANGE + ('load_from',),
                      '+ the DINO routes\' fine-tuning schedule'),
    'sv_dino_bifusion': Route('DINO-BiFusion', 'SV', 'dino', 'ESAM_sv_dino_bifusion', 'ft',
                              {'load_from': 'sv_3d'}, 'sv_3d_ft', (),
                              '+ BiFusion encoder (DINO store)'),
    'sv_dino_fpn_inject': Route('DINO-FPN-inject', 'SV', 'dino', 'ESAM_sv_dino_fpn_inject',
                                'ft', {'load_from': 'sv_3d'}, 'sv_3d_ft', (),
                                '+ DINO pyramid into the decoder'),
    'sv_dino_early': Route('DINO-early', 'SV', 'dino', 'ESAM_sv_dino_early', 'ft',
                           {'load_from': 'sv_3d'}, 'sv_3d_ft', (),
                           '+ DINO features at the U-Net input'),
}
PRESETS = {
    'clip_fusion': ['sv_3d', 'online_3d', 'sv_3dtsa', 'online_3dtsa', 'sv_3dtsa_long',
                    'online_3dtsa_long', 'sv_bifusion', 'online_bifusion'],
    'dino': ['sv_3d', 'sv_3d_ft', 'sv_dino_bifusion', 'sv_dino_fpn_inject', 'sv_dino_early'],
}
PRESETS['all'] = list(dict.fromkeys(PRESETS['clip_fusion'] + PRESETS['dino']))
SCALES = {'sample': 'scannet_sample', 'full': 'scannet200'}
# what tests/test_ablation.py compares between a row and its control
RECIPE_FIELDS = ('optim_wrapper', 'param_scheduler', 'train_cfg', 'model.neck', 'load_from',
                 'custom_hooks', 'train_dataloader.batch_size')


def config_of(key: str, suffix: str) -> str:
    """``configs/<folder>/<config>_<suffix>.py`` of a row (relative to the repository)."""
    r = ROUTES[key]
    return osp.join('configs', r.folder, f'{r.config}_{suffix}.py')


def identity_parent(key: str) -> Optional[str]:
    """The row whose predictions a row reproduces at step 0: the one it loads
    (``load_from``), else its control (a row trained from scratch loads the control's weights
    for the check: only its new module may differ); None for a root row."""
    r = ROUTES[key]
    return r.needs.get('load_from') or r.control


def row_of_checkpoint(path: Optional[str], suffix: str):
    """The row whose work dir holds ``path`` (``.../<config name>/<file>``), else ``path``."""
    if not path:
        return None
    name = osp.basename(osp.dirname(str(path)))
    for key in ROUTES:
        if osp.splitext(osp.basename(config_of(key, suffix)))[0] == name:
            return key
    return str(path)


def recipe(cfg: Config, suffix: str) -> Dict[str, object]:
    """The :data:`RECIPE_FIELDS` of a config after its run links are resolved
    (:func:`~oneformer3d.engine.run_links.resolve_run_links`), checkpoints named by their
    row."""
    resolve_run_links(cfg)
    def get(path):
        node = cfg
        for part in path.split('.'):
            node = node.get(part) if hasattr(node, 'get') else None
            if node is None:
                return None
        return node.to_dict() if hasattr(node, 'to_dict') else node
    out = {f: get(f) for f in RECIPE_FIELDS}
    out['load_from'] = row_of_checkpoint(cfg.get('load_from'), suffix)
    hooks = []
    for hook in out['custom_hooks'] or []:
        hook = dict(hook)
        if 'checkpoint' in hook:
            hook['checkpoint'] = row_of_checkpoint(hook['checkpoint'], suffix)
        hooks.append(hook)
    out['custom_hooks'] = hooks
    return out


def undeclared_differences(key: str, suffix: str, repo: str = '.',
                           options: Optional[dict] = None) -> List[str]:
    """Recipe fields in which row ``key`` differs from its control without declaring it
    (``options``: ``--cfg-options``-style overrides of the row's config). Empty for a row
    without a control. Each entry: ``'<field>: <row value> vs control <value>'``."""
    control = ROUTES[key].control
    if control is None:
        return []
    row_cfg = Config.fromfile(osp.join(repo, config_of(key, suffix)))
    if options:
        row_cfg.merge_from_dict(options)
    mine = recipe(row_cfg, suffix)
    theirs = recipe(Config.fromfile(osp.join(repo, config_of(control, suffix))), suffix)
    problems = []
    for field in RECIPE_FIELDS:
        a, b = mine[field], theirs[field]
        if a == b or field in ROUTES[key].declared:
            continue
        if field == 'load_from' and a in ROUTES and ROUTES[a].control == b:
            continue            # the parents are themselves a declared (row, control) pair
        problems.append(f'{field}: {_short(a)} vs control {_short(b)}')
    return problems


def _short(value, n: int = 160) -> str:
    text = re.sub(r'\s+', ' ', repr(value))
    return text if len(text) <= n else text[:n] + '...'


def _no_missing_pretrained(cfg: Config) -> Config:
    """``cfg`` with a backbone ``pretrained`` file that does not exist dropped (its weights
    come from the parent in the identity check)."""
    for part in ('backbone', 'bi_encoder'):
        node = cfg.model.get(part)
        node = node.get('backbone3d', node) if part == 'bi_encoder' and node else node
        if node and node.get('pretrained') and not osp.isfile(node['pretrained']):
            node['pretrained'] = None
    return cfg


def _store_widths_of(cfg: Config, data_cfg: Config) -> None:
    """The 2D-store widths of ``data_cfg`` in ``cfg`` (a full-scale row checked on the
    sample's frames reads the sample's store; the 2D input width does not touch the identity
    start, whose 2D contribution is zero)."""
    for part, keys in (('bi_encoder', ('img_channels', 'img_stride')),
                       ('injector', ('in_channels',))):
        if cfg.model.get(part) and data_cfg.model.get(part):
            for k in keys:
                cfg.model[part][k] = data_cfg.model[part].get(k)


def check_init(keys: List[str], suffix: str, work_root: str, seed: int = 0,
               data_suffix: Optional[str] = None, options: Optional[dict] = None,
               log=print) -> Dict[str, tuple]:
    """``tools/ablation.py --check-init``: for every row of ``keys`` (dependency order), the
    largest absolute difference between the decoder logits of the row's step-0 model and of
    its :func:`identity_parent` with the parent's checkpoint, on the first validation sample
    of the row's data (``data_suffix``'s configs when given: the sample's frames and 2D store
    widths for a full scale whose data is not here; ``options``: overrides of the checked
    rows' configs, not of the parents' checkpoints). Parent checkpoints:
    ``<work_root>/seed<seed>/<config>/last_checkpoint`` when trained, else written to
    ``<work_root>/check_init/`` from the parent's own step-0 model (seeded with ``seed``, zero
    parameters perturbed). Returns
    ``{row: (max_abs_diff, max_abs_logit)}`` (root rows left out); each is also logged as
    ``init_identity row=... parent=... max_abs_diff=... max_abs_logit=...``. Run it with one
    thread (``torch.set_num_threads(1)``): multi-threaded CPU reductions alone make two runs
    of one model differ by up to ~1e-3."""
    import torch
    from .start_state import (build_start_model, build_trained_model, decoder_logits,
                              first_sample, max_abs_diff, perturb_zero_parameters)
    ckpts: Dict[str, str] = {}

    def cfg_of(key, sfx=suffix, opts=None):
        cfg = Config.fromfile(config_of(key, sfx))
        if data_suffix and data_suffix != sfx:
            _store_widths_of(cfg, Config.fromfile(config_of(key, data_suffix)))
        if opts:
            cfg.merge_from_dict(opts)
        return _no_missing_pretrained(resolve_run_links(cfg))

    def hook_ckpts(key, cfg):
        if 'hook' not in ROUTES[key].needs:
            return {}
        idx = [i for i, h in enumerate(cfg.get('custom_hooks') or [])
               if h.get('type') == 'PartialLoadHook']
        return {idx[0]: checkpoint(ROUTES[key].needs['hook'])}

    def start_model(key, opts=None):
        cfg, parent = cfg_of(key, opts=opts), identity_parent(key)
        load_from = checkpoint(parent) if parent else ''
        return build_start_model(cfg, load_from=load_from, hook_checkpoints=hook_ckpts(key, cfg))

    def checkpoint(key):
        if key in ckpts:
            return ckpts[key]
        name = osp.splitext(osp.basename(config_of(key, suffix)))[0]
        last = osp.join(work_root, f'seed{seed}', name, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as fh:
                ckpts[key] = fh.read().strip()
            log(f'init_parent row={key} checkpoint={ckpts[key]} (trained)')
            return ckpts[key]
        torch.manual_seed(seed)
        model = start_model(key)
        changed = perturb_zero_parameters(model)
        path = osp.join(work_root, 'check_init', f'{name}.pth')
        os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save({'state_dict': model.state_dict()}, path)
        log(f'init_parent row={key} checkpoint={path} (seeded random init {seed}, '
            f'{changed} zero tensors perturbed)')
        ckpts[key] = path
        return path

    results = {}
    for key in keys:
        parent = identity_parent(key)
        if parent is None:
            log(f'init_identity row={key} parent=none (root row: trained from its own '
                f'initialisation)')
            continue
        torch.manual_seed(seed)
        row_model = start_model(key, options)
        parent_model = build_trained_model(cfg_of(parent), checkpoint(parent))
        batch = first_sample(cfg_of(key, data_suffix or suffix, opts=options))
        diff, scale = max_abs_diff(decoder_logits(row_model, batch),
                                   decoder_logits(parent_model, batch))
        results[key] = (diff, scale)
        log(f'init_identity row={key} parent={parent} max_abs_diff={diff:.3g} '
            f'max_abs_logit={scale:.3g}')
    return results
