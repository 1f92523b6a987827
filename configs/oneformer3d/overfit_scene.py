# Overfitting sanity check (`make overfit`): train and evaluate on one scene, class-agnostic,
# no augmentation. tools/overfit.py prepares the scene and sets data_root / ann files.
# Choices for a short schedule on a 2-core CPU (measured, see README):
# - voxel 0.05 m keeps Res16UNet34C at ~6 s per iteration on a full scene (0.02 m: ~11 s);
# - BN momentum 0.1: with OneFormer3D's 0.02 the running statistics are still ~13 % initial
#   values after 100 iterations, so eval-mode predictions lag the trained model;
# - queries: a fixed farthest-point sample of 300 superpoint centroids in training and test
#   (random subsets change which query wins each GT every step and stall objectness).
_base_ = ['./oneformer3d_scannet_sample.py']
voxel_size = 0.05
model = dict(
    num_instance_classes=1,
    data_preprocessor=dict(voxel_size=voxel_size),
    backbone=dict(bn_momentum=0.1),
    decoder=dict(num_semantic_classes=None, max_queries=300, query_sampling='fps',
                 pos_embed=True),
    sem_criterion=None)
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='NormalizePointsColor'),
    dict(type='Pack3DDetInputs'),
]
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=test_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
val_evaluator = dict(type='InstanceSegMetric', class_agnostic=True)
test_evaluator = val_evaluator
max_iters = 150
train_cfg = dict(max_iters=max_iters, val_interval=50)
param_scheduler = dict(end=max_iters)
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.0))
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=10))
