# The embedded demo (`make demo`): procedural ScanNet-format rooms (4 train / 2 val) made by
# tools/demo.py, class-aware ScanNet-20 instance + semantic segmentation, CPU-sized schedule.
_base_ = ['./oneformer3d_scannet.py']
data_root = 'data/demo/scannet/'
voxel_size = 0.05
model = dict(
    data_preprocessor=dict(voxel_size=voxel_size),
    backbone=dict(bn_momentum=0.1),  # short schedule: running BN statistics must keep up
    decoder=dict(max_queries=200, query_sampling='fps', pos_embed=True))
train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14], scale_ratio_range=[0.9, 1.1],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='NormalizePointsColor'),
    dict(type='Pack3DDetInputs'),
]
train_dataloader = dict(batch_size=1, num_workers=1, persistent_workers=True,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
max_iters = 60
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = dict(_delete_=True, type='PolyLR', begin=0, end=max_iters, power=0.9,
                       by_epoch=False)
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.0))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=20))
log_processor = dict(by_epoch=False)
