"""Every config parses through its _base_ chain and builds its model."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from oneformer3d.registry import MODELS
from tests.conftest import REPO

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    init_default_scope('oneformer3d')
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'oneformer3d'
    if cfg.model.type in ('ActionPolicy', 'StudentDistiller'):
        return check_action_config(cfg)
    if cfg.model.get('backbone') and cfg.model.backbone.get('pretrained'):
        # reproduction configs name upstream's starting checkpoint, which cannot ship here;
        # loading such a file is tested in test_convert_checkpoint.py / test_model.py
        cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    if cfg.model.type == 'RGBPointAligner':
        # alignment configs: one adapter per encoder pack the dataset reads, in the same order
        assert list(model.adapters) == list(cfg.train_dataloader.dataset.encoders)
        assert model.task == cfg.train_dataloader.dataset.mode == cfg.val_dataloader.dataset.mode
        for loader in ('train_dataloader', 'val_dataloader'):
            assert cfg[loader].dataset.type == 'RLBenchAlignDataset'
        return
    k = cfg.model.num_instance_classes
    assert model.decoder.cls_head[-1].out_features == k + 1 and model.criterion.num_classes == k
    for loader in ('train_dataloader', 'val_dataloader'):
        assert cfg[loader].dataset.type in ('ScanNetSegDataset', 'ScanNet200SegDataset',
                                            'ScanNetSegMVDataset', 'ScanNet200SegMVDataset')


def check_action_config(cfg):
    """Stage-2/3 configs: the token encoder fits the dataset's input and packs. Checkpoints
    named in them come from training runs (loading them is tested in test_action_head.py),
    so the model is built without them here."""
    ds = cfg.train_dataloader.dataset
    assert ds.type == cfg.val_dataloader.dataset.type == 'RLBenchActionDataset'
    assert set(ds.episodes).isdisjoint(cfg.val_dataloader.dataset.episodes)
    if cfg.model.type == 'StudentDistiller':
        cfg.model.teacher.policy_checkpoint = None
        model = MODELS.build(cfg.model)
        assert list(model.teacher.encoders) == list(ds.encoders) == \
            list(cfg.model.teacher.token_encoder.encoders)
        assert model.student.groups == len(ds.encoders) and ds.load_image
        return
    enc = cfg.model.get('token_encoder')
    if enc and enc.get('checkpoint'):
        enc.checkpoint = None
    model = MODELS.build(cfg.model)
    expected = dict(pc='PointTokenEncoder', packs='PackTokenEncoder', proprio=None)[ds.input]
    assert (type(model.token_encoder).__name__ if model.token_encoder else None) == expected
    if expected == 'PackTokenEncoder':
        assert list(model.token_encoder.names) == list(ds.encoders)


def test_esam_sv_baseline_settings():
    cfg = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_sv_3d_scannet200.py'))
    assert cfg.model.data_preprocessor.voxel_size == 0.02
    assert cfg.model.decoder.num_layers == 3 and cfg.model.num_instance_classes == 1
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.param_scheduler.type == 'PolyLR' and cfg.train_cfg.max_epochs == 128
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.train_dataloader.dataset.type == 'ScanNet200SegDataset'


def test_esam_online_changes_only_what_differs():
    sv = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_sv_3d_scannet200.py'))
    mv = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_online_3d_scannet200.py'))
    assert mv.train_dataloader.dataset.type == 'ScanNet200SegMVDataset'
    assert mv.train_dataloader.dataset.pipeline[0] == dict(type='LoadAdjacentDataFromFile',
                                                           num_frames=8)
    assert mv.model.test_cfg.topk_insts == 20 and mv.model.memory.type == 'MultilevelMemory'
    assert mv.load_from.endswith('.pth')
    for key in ('backbone', 'decoder', 'criterion', 'data_preprocessor'):
        assert mv.model[key] == sv.model[key], key
    assert mv.optim_wrapper == sv.optim_wrapper and mv.param_scheduler == sv.param_scheduler


OVERFIT = osp.join(REPO, 'configs/oneformer3d/overfit_scene.py')


@pytest.mark.parametrize('key, closest', [
    ('optim_wraper.optimizer.lr', 'optim_wrapper'),
    ('default_hooks.checkpoint.intervl', 'interval'),
    ('model.decoder.layers', 'num_layers'),
    ('train_dataloader.prefetch_factr', 'prefetch_factor')])
def test_override_typos_are_rejected_with_the_closest_key(key, closest):
    from oneformer3d.utils.config import load_config
    with pytest.raises(ValueError, match=rf"no key .* did you mean '{closest}'"):
        load_config(OVERFIT, {key: 1})


def test_overrides_that_exist_or_are_constructor_arguments_pass():
    from oneformer3d.utils.config import load_config
    cfg = load_config(OVERFIT, {'optim_wrapper.optimizer.lr': 0.5,
                                'model.backbone.pretrained_max_missing': 0.1,  # a default
                                'train_dataloader.prefetch_factor': None,      # DataLoader arg
                                '+my_note': 'kept on purpose'})
    assert cfg.optim_wrapper.optimizer.lr == 0.5 and cfg.my_note == 'kept on purpose'
    assert cfg.model.backbone.pretrained_max_missing == 0.1


def test_hook_and_loop_arguments_are_checked_before_the_run():
    from oneformer3d.utils.config_check import check_component_args
    cfg = Config.fromfile(OVERFIT)
    check_component_args(cfg)
    cfg.default_hooks.checkpoint.intervl = 1     # CheckpointHook takes **kwargs
    with pytest.raises(ValueError, match=r"checkpoint.intervl is not an argument of "
                                         r"CheckpointHook; did you mean 'interval'"):
        check_component_args(cfg)
    cfg = Config.fromfile(OVERFIT)
    cfg.train_cfg.max_iter = 3
    with pytest.raises(ValueError, match="train_cfg.max_iter .* did you mean 'max_iters'"):
        check_component_args(cfg)
