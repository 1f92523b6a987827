# Stage 1: align per-point RGB patch features (several encoders, fused) with point features
# through each point's pixel uv — point<->patch InfoNCE over 4,096 sampled pairs (PPKT/SLidR).
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/rlbench_alignment.py']
mode = 'point_patch'
model = dict(
    type='RGBPointAligner', encoders={{_base_.encoders}}, dim=256, task=mode,
    fusion=dict(type='WeightedFusion'),
    point_projector=dict(type='PointProjector', in_channels=256, source='pc_feat'),
    criterion=dict(type='PointPatchInfoNCE', num_pairs=4096, temperature=0.07))
train_dataloader = dict(batch_size=8, dataset=dict(mode=mode, sample_unit='step'))
val_dataloader = dict(dataset=dict(mode=mode))
test_dataloader = val_dataloader
max_iters = 300
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3,
                                                         weight_decay=1e-4))
param_scheduler = dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False,
                       eta_min=1e-5)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=20))
custom_hooks = [dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
                dict(type='TrainingCurvesHook', interval=5)]
log_processor = dict(by_epoch=False)
