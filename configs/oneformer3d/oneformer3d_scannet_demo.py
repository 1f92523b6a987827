# The embedded demo (`make demo`): procedural ScanNet-format rooms (4 train / 2 val) made by
# tools/demo.py; the CPU settings of the sample config, with rigid augmentation, 200 queries
# and 60 iterations (~4 min on 2 cores).
_base_ = ['./oneformer3d_scannet_sample.py']
color_norm = {{_base_.color_norm}}
data_root = 'data/demo/scannet/'
model = dict(decoder=dict(max_queries=200))
train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14], scale_ratio_range=[0.9, 1.1],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
train_dataloader = dict(num_workers=1, persistent_workers=True,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
max_iters = 60
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters), logger=dict(interval=20))
