"""Every config parses through its _base_ chain and builds its model."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from oneformer3d.engine.run_links import resolve_run_links
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


def test_ablation_3d_rows_are_the_esam_reproduction_configs_on_the_ablation_recipe():
    """The ablation chain's 3D rows inherit ESAM's reproduction configs (model, pipelines,
    loop: compared with upstream in test_reproduction_configs.py) and change only the recipe:
    the seed plan's AdamW 6e-4 / weight decay 1e-2 / 1000 warm-up iterations + cosine over
    128 epochs / mixed precision, written out here by hand (the reproduction configs keep
    ESAM's AdamW 1e-4 / 0.05 / PolyLR / fp32)."""
    recipe_opt = dict(type='MixedPrecisionOptimWrapper',
                      optimizer=dict(type='AdamW', lr=6e-4, weight_decay=1e-2),
                      clip_grad=dict(max_norm=10, norm_type=2),
                      paramwise_cfg=dict(custom_keys={'neck.pos_embed': dict(decay_mult=0.0)}))
    recipe_sched = [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
        dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=128, eta_min=1e-6)]
    pairs = (('ESAM_sv_3d_scannet200.py', 'ESAM_sv_1xb4_scannet200_CA.py'),
             ('ESAM_online_3d_scannet200.py', 'ESAM_online_scannet200_CA.py'))
    for row_name, ref_name in pairs:
        row = resolve_run_links(Config.fromfile(osp.join(REPO, 'configs/esam', row_name)))
        ref = resolve_run_links(Config.fromfile(osp.join(REPO, 'configs/esam', ref_name)))
        row, ref = row.to_dict(), ref.to_dict()
        assert ref['optim_wrapper']['optimizer'] == dict(type='AdamW', lr=1e-4,
                                                         weight_decay=0.05)
        assert row.pop('optim_wrapper') == recipe_opt
        assert row.pop('param_scheduler') == recipe_sched
        for key in ('optim_wrapper', 'param_scheduler'):
            ref.pop(key)
        row = {k: v for k, v in row.items() if not k.startswith('recipe_')}
        if 'online' in row_name:     # the online row starts from the chain's SV row
            assert row.pop('load_from') == 'work_dirs/ESAM_sv_3d_scannet200/epoch_128.pth'
            assert ref.pop('load_from') == 'work_dirs/ESAM_sv_1xb4_scannet200_CA/epoch_128.pth'
            # the fusion routes' datasets: the MV infos with 2D feature paths (the reference
            # carries the SV base's, which no online config reads)
            for key in ('clip_train_dataset', 'clip_val_dataset'):
                assert row.pop(key)['ann_file'].startswith('scannet200_mv_')
                ref.pop(key)
        assert row == ref, row_name
    assert row['model']['decoder']['type'] == 'MixQueryDecoder'
    clip = row['clip_train_pipeline']        # the MV pipeline with the stored 2D features
    assert clip[1] == dict(type='LoadClipFeature') and clip[:1] + clip[2:] == ref['train_pipeline']


def test_esam_online_changes_only_what_differs():
    sv = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_sv_3d_scannet200.py'))
    mv = Config.fromfile(osp.join(REPO, 'configs/esam/ESAM_online_3d_scannet200.py'))
    assert mv.train_dataloader.dataset.type == 'ScanNet200SegMVDataset'
    assert mv.train_dataloader.dataset.pipeline[0] == dict(type='LoadAdjacentDataFromFile',
                                                           num_frames=8)
    assert mv.model.test_cfg.topk_insts == 20 and mv.model.memory.type == 'MultilevelMemory'
    assert mv.load_from_run == 'ESAM_sv_3d_scannet200' and resolve_run_links(
        Config.fromfile(mv.filename)).load_from.endswith('ESAM_sv_3d_scannet200/epoch_128.pth')
    for key in ('criterion', 'data_preprocessor', 'pool'):
        assert mv.model[key] == sv.model[key], key
    # ESAM's online decoder adds the box branch its merger reads
    assert dict(mv.model.decoder, bbox_flag=False) == dict(sv.model.decoder, bbox_flag=False)
    assert mv.model.decoder.bbox_flag and mv.model.merger.use_bbox
    # the U-Net's weights come from the SV checkpoint, not from Mask3D's file
    assert dict(mv.model.backbone, pretrained=None) == dict(sv.model.backbone, pretrained=None)
    assert sv.model.backbone.pretrained and mv.model.backbone.pretrained is None
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
def test_overfit_query_budget_reaches_every_instance_of_the_real_scenes(scene, tmp_path):
    """Upstream's sparse matching trains a GT instance only through a query seeded inside it.
    With the overfit config's farthest-point query budget (1,000) all but one / two of the
    27 / 29 GT instances of the shared scenes are matched on every decoder layer (2,000
    queries: all); with the sample configs' 300, five are never matched."""
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
    assert cfg.model.criterion.matcher.type == 'SparseMatcher'
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.update(data_root=str(tmp_path), ann_file='scannet_oneformer3d_infos_train.pkl')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(pseudo_collate([DATASETS.build(ds_cfg)[0]]), training=True)
    model.train()
    seen = {}
    for budget in (cfg.model.decoder.max_queries, 2000, 300):
        model.decoder.max_queries = budget
        recorder = _RecordingMatcher(model.criterion.matcher)
        model.criterion.matcher = recorder
        with torch.no_grad():
            model(**data, mode='loss')
        model.criterion.matcher = recorder.matcher
        assert len(recorder.matched) == cfg.model.decoder.num_layers + 1
        seen[budget] = recorder.matched
    assert all(n > 20 and len(m) >= n - 2 for m, n in seen[cfg.model.decoder.max_queries])
    assert all(m == set(range(n)) for m, n in seen[2000])
    assert all(len(m) <= n - 5 for m, n in seen[300])


SAVE_BEST = [p for p in CONFIGS if Config.fromfile(p).get('default_hooks', {})
             .get('checkpoint', {}).get('save_best')]


@pytest.mark.parametrize('path', SAVE_BEST, ids=[osp.relpath(p, REPO) for p in SAVE_BEST])
def test_save_best_names_a_metric_the_evaluator_reports(path):
    """CheckpointHook(save_best=KEY) fails with a KeyError only after the first validation
    (epoch 128 in the ESAM config): KEY must be among the metrics the config's evaluator
    reports, here run on a real scene with its GT as the prediction."""
    import numpy as np
    import torch

    from oneformer3d.metainfo import get_class_table
    from oneformer3d.registry import METRICS
    from tests.conftest import data_path
    init_default_scope('oneformer3d')
    cfg = Config.fromfile(path)
    metric = METRICS.build(cfg.val_evaluator)
    dataset = 'scannet200' if '200' in cfg.val_dataloader.dataset.type else 'scannet'
    metric.dataset_meta = dict(dataset=dataset)
    table = get_class_table(dataset)
    root = data_path('scannet', 'scans')
    sem = table.map_raw_to_seg(np.load(osp.join(root, 'scene0000_00_sem_label.npy'))
                               .astype(np.int64))
    ins = np.load(osp.join(root, 'scene0000_00_ins_label.npy')).astype(np.int64)
    inst_sem = table.seg_to_inst[sem]
    ids = [i for i in np.unique(ins) if i > 0 and inst_sem[ins == i][0] >= 0]
    pred = dict(pts_instance_mask=torch.from_numpy(np.stack([ins == i for i in ids])),
                instance_labels=torch.tensor([int(inst_sem[ins == i][0]) for i in ids]),
                instance_scores=torch.ones(len(ids)))
    metric.process(None, [dict(gt_pts_seg=dict(pts_semantic_mask=sem, pts_instance_mask=ins),
                               pred_instances_3d=pred)])
    reported = metric.compute_metrics(metric.results)
    key = cfg.default_hooks.checkpoint.save_best
    assert key in reported, f'{key} not in {sorted(reported)}'
