# Overfitting sanity check (`make overfit`): train and evaluate on one scene, class-agnostic,
# no augmentation. tools/overfit.py prepares the scene and sets data_root / ann files.
# Voxel 0.05 m keeps Res16UNet34C at ~6 s per iteration on a 2-core CPU (0.02 m: ~11 s).
_base_ = ['./oneformer3d_scannet_sample.py']
voxel_size = 0.05
model = dict(
    num_instance_classes=1,
    data_preprocessor=dict(voxel_size=voxel_size),
    decoder=dict(num_semantic_classes=None, query_ratio=1.0),
    sem_criterion=None)
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='NormalizePointsColor'),
    dict(type='Pack3DDetInputs'),
]
train_dataloader = dict(batch_size=1, num_workers=1, persistent_workers=True,
                        dataset=dict(pipeline=test_pipeline))
val_evaluator = dict(type='InstanceSegMetric', class_agnostic=True)
test_evaluator = val_evaluator
max_iters = 150
train_cfg = dict(max_iters=max_iters, val_interval=50)
param_scheduler = dict(end=max_iters)
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.0))
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=10))
