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


class _RecordingMatcher:
    """The config's matcher, recording which GT instances each call matched."""

    def __init__(self, matcher):
        self.matcher, self.matched = matcher, []

    def __call__(self, pred, gt):
        q, g = self.matcher(pred, gt)
        self.matched.append((set(g.tolist()), gt['labels'].numel()))
        return q, g


@pytest.mark.parametrize('scene', ['scene0000_00', 'scene0000_01'])
def test_cpu_sample_configs_can_match_every_instance_of_the_real_scenes(scene, tmp_path):
    """The overfit / sample family's query budget (300 FPS seeds) with its matcher: every GT
    instance of a real scene is matched on every decoder layer. Under SparseMatcher with 300
    seeds, 5 instances of each shared scene have no seeded query and are never trained."""
    import torch
    from mmengine.dataset import pseudo_collate

    from oneformer3d.datasets.preprocessing.scannet_scans import create_scannet_infos
    from oneformer3d.metainfo import get_class_table
    from oneformer3d.registry import DATASETS
    from tests.conftest import data_path
    init_default_scope('oneformer3d')
    create_scannet_infos(data_path('scannet', 'scans'), str(tmp_path), get_class_table('scannet'),
                         'scannet', scenes=[scene])
    cfg = Config.fromfile(OVERFIT)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.update(data_root=str(tmp_path), ann_file='scannet_oneformer3d_infos_train.pkl')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(pseudo_collate([DATASETS.build(ds_cfg)[0]]), training=True)
    recorder = _RecordingMatcher(model.criterion.matcher)
    model.criterion.matcher = recorder
    model.train()
    with torch.no_grad():
        model(**data, mode='loss')
    assert len(recorder.matched) == cfg.model.decoder.num_layers + 1
    for matched, num_gt in recorder.matched:
        assert num_gt > 20 and matched == set(range(num_gt))
    # the same batch under upstream's SparseMatcher misses the unseeded instances
    sparse = dict(cfg.model.criterion.matcher, type='SparseMatcher', topk=1)
    from oneformer3d.registry import TASK_UTILS
    recorder = _RecordingMatcher(TASK_UTILS.build(sparse))
    model.criterion.matcher = recorder
    with torch.no_grad():
        model(**data, mode='loss')
    assert all(len(m) < n for m, n in recorder.matched)
