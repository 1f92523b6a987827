# The embedded demo (`make demo`): procedural ScanNet-format rooms (12 train / 2 val) made by
# tools/demo.py. A lighter child of the sample config, so that a few minutes of CPU training
# show learning on the held-out rooms (not only that the path runs): the Res16UNet34C layout
# with one residual block per stage (Res16UNet14's depth), 3 decoder layers (ESAM), 100
# farthest-point queries, rigid augmentation, 200 iterations (`make demo` runs it on one thread;
# held-out figures: configs/oneformer3d/README.md).
_base_ = ['./oneformer3d_scannet_sample.py']
color_norm = {{_base_.color_norm}}
data_root = 'data/demo/scannet/'
model = dict(backbone=dict(layers=(1, 1, 1, 1, 1, 1, 1, 1)),
             decoder=dict(num_layers=3, max_queries=100))
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
max_iters = 200
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters), logger=dict(interval=20))
