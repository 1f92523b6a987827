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
    model = MODELS.build(cfg.model)
    if cfg.model.type == 'RGBPointAligner':
        # alignment configs: one adapter per encoder pack the dataset reads, in the same order
        assert list(model.adapters) == list(cfg.train_dataloader.dataset.encoders)
        assert model.task == cfg.train_dataloader.dataset.mode == cfg.val_dataloader.dataset.mode
        for loader in ('train_dataloader', 'val_dataloader'):
            assert cfg[loader].dataset.type == 'RLBenchAlignDataset'
        return
    k = cfg.model.num_instance_classes
    assert model.decoder.cls_head.out_features == k + 1 and model.criterion.num_classes == k
    for loader in ('train_dataloader', 'val_dataloader'):
        assert cfg[loader].dataset.type in ('ScanNetSegDataset', 'ScanNet200SegDataset',
                                            'ScanNetSegMVDataset', 'ScanNet200SegMVDataset')


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
