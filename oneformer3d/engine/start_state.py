"""A model as its training starts, and what it predicts: the identity-start check of the
fusion ablation (``tools/ablation.py --check-init``).

mmengine's ``Runner.train`` builds the model, loads ``load_from`` (ours: through
:func:`~oneformer3d.engine.runner.load_into_model` with the config's ``load_policy``), then
runs the ``before_train`` hooks (``PartialLoadHook``). :func:`build_start_model` does the same
without a runner, dataloaders or a work dir, so a row's step-0 model can be compared with its
parent's: :func:`decoder_logits` runs one real sample through a model (every frame of a
multi-view sample, through the model's memory, as ``loss_sequence`` does) and returns every
decoder layer's class and mask logits.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.dataset import pseudo_collate

from oneformer3d.registry import DATASETS, HOOKS, MODELS
from oneformer3d.utils import load_local_checkpoint
from oneformer3d.utils.load_report import checkpoint_state_dict
from .runner import DEFAULT_LOAD_POLICY, KEY_RULES, load_into_model


def build_start_model(cfg, load_from: Optional[str] = None,
                      hook_checkpoints: Optional[Dict[int, str]] = None, logger=None):
    """The model of ``cfg`` as ``tools/train.py`` starts training it, in eval mode.

    Args:
        cfg: an mmengine ``Config`` (a row's resolved config).
        load_from: the checkpoint to load as ``load_from`` (default: ``cfg.load_from``); the
            config's ``load_policy`` (key rules and missing-fraction check) applies.
        hook_checkpoints: ``{index in custom_hooks: checkpoint}`` for ``PartialLoadHook``
            entries (default: their configured files).
        logger: optional ``.info`` receiver of the load reports.

    Returns:
        the model (``torch.nn.Module``, eval mode, CPU).

    Raises:
        ValueError: a load that breaks the config's policy (as the runner would);
        FileNotFoundError: a checkpoint that does not exist.
    """
    model = MODELS.build(copy.deepcopy(cfg.model))
    if hasattr(model, 'init_weights'):
        model.init_weights()
    load_from = load_from if load_from is not None else cfg.get('load_from')
    if load_from:
        policy = dict(DEFAULT_LOAD_POLICY, **(cfg.get('load_policy') or {}))
        rules = {k: policy.pop(k) for k in KEY_RULES if k in policy}
        state = checkpoint_state_dict(load_local_checkpoint(load_from, map_location='cpu'),
                                      load_from)
        report = load_into_model(model, state, load_from, **rules)
        if logger is not None:
            logger.info(report.summary())
        report.check(**policy)
    for i, hook_cfg in enumerate(cfg.get('custom_hooks') or []):
        if hook_cfg.get('type') != 'PartialLoadHook':
            continue
        hook_cfg = dict(hook_cfg)
        if hook_checkpoints and i in hook_checkpoints:
            hook_cfg['checkpoint'] = hook_checkpoints[i]
        HOOKS.build(hook_cfg).load(model, logger)
    return model.eval()


def first_sample(cfg, split: str = 'val', data_root: Optional[str] = None):
    """``(inputs, data_samples)`` of the first sample of the config's ``split`` dataloader,
    through the model's data preprocessor's collation (``data_root`` replaces the dataset's).

    Raises:
        FileNotFoundError: naming the infos file when it does not exist.
    """
    ds_cfg = copy.deepcopy(cfg[f'{split}_dataloader'].dataset)
    if data_root is not None:
        ds_cfg.data_root = data_root
    ann = osp.join(ds_cfg.get('data_root') or '', ds_cfg.ann_file)
    if not osp.isfile(ann):
        raise FileNotFoundError(f'{ann}: the infos of {cfg.filename} are missing (create them '
                                f'with tools/create_data.py as the config says)')
    dataset = DATASETS.build(ds_cfg)
    return pseudo_collate([dataset[0]])


@torch.no_grad()
def decoder_logits(model, batch) -> List[torch.Tensor]:
    """Every decoder layer's class and mask logits on ``batch`` (one collated sample), frame
    by frame for a multi-view sample (memory reset first, each frame through
    ``model.memory``, which is None for a single-view model).

    Returns a flat list of float tensors, in the order (frame, layer, class then mask, sample).
    """
    from oneformer3d.models.online.sequence import (frame_inputs, num_frames,
                                                     reset_online_state)
    data = model.data_preprocessor(batch, False)
    inputs, data_samples = data['inputs'], data['data_samples']
    outs = []
    if 'frame_idx' in inputs:
        reset_online_state(model)
        for t in range(num_frames(inputs)):
            sel = [f == t for f in inputs['frame_idx']]
            pts = [p[s] for p, s in zip(inputs['points'], sel)]
            sps = [ds.gt_pts_seg.sp_pts_mask[s] for ds, s in zip(data_samples, sel)]
            fin = frame_inputs(model, pts, sps, inputs, t, sel)
            torch.manual_seed(0)
            sp_feats, point2sp, sp_xyz, p = model.extract_feat(fin, injector=model.memory)
            outs.append(model.decoder(sp_feats, training=False, sp_xyz=sp_xyz, points=p,
                                      point2sp=point2sp))
    else:
        torch.manual_seed(0)
        outs.append(model(inputs, data_samples, mode='tensor'))
    flat = []
    for out in outs:
        for layer in out['layers']:
            for key in ('cls', 'masks'):
                flat += [t.float() for t in layer[key]]
    return flat


def max_abs_diff(a: List[torch.Tensor], b: List[torch.Tensor]):
    """``(largest absolute difference, largest absolute value of b)`` over two
    :func:`decoder_logits` lists (the second gives the scale of the logits).

    Raises:
        ValueError: when their lengths or shapes differ (not the same predictions at all).
    """
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        raise ValueError(f'decoder outputs differ in structure: {[tuple(x.shape) for x in a]} '
                         f'vs {[tuple(y.shape) for y in b]}')
    diff = max((float((x - y).abs().max()) if x.numel() else 0.0) for x, y in zip(a, b))
    scale = max((float(y.abs().max()) if y.numel() else 0.0) for y in b)
    return diff, scale


def build_trained_model(cfg, checkpoint: str):
    """The model of ``cfg`` with ``checkpoint`` (one of its own: saved from this config's
    model) loaded strictly, in eval mode; no ``load_from``, no hooks.

    Raises:
        ValueError: with the load report when any key is missing, unexpected or mismatched.
    """
    model = MODELS.build(copy.deepcopy(cfg.model))
    if hasattr(model, 'init_weights'):
        model.init_weights()
    state = checkpoint_state_dict(load_local_checkpoint(checkpoint, map_location='cpu'),
                                  checkpoint)
    load_into_model(model, state, checkpoint).check(strict=True)
    return model.eval()


@torch.no_grad()
def perturb_zero_parameters(model, std: float = 0.02) -> int:
    """Give every all-zero parameter of ``model`` N(0, ``std``) values (the zero-initialised
    parts a trained model would have moved: an identity check on a random parent must see a
    weight that fails to load). Returns how many tensors were changed."""
    changed = 0
    for p in model.parameters():
        if p.numel() and not p.any():
            p.normal_(0.0, std)
            changed += 1
    return changed
