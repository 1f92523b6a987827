# Reconstructed ScanNet scans (create_data.py scannet), ScanNet-20 class table.
dataset_type = 'ScanNetSegDataset'
data_root = 'data/scannet/'
ann_prefix = 'scannet'
# OneFormer3D's ScanNet-20 colour normalisation: (rgb - 127.5) / 127.5
color_norm = dict(type='NormalizePointsColor', color_mean=(127.5, 127.5, 127.5),
                  color_std=(127.5, 127.5, 127.5))
train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14], scale_ratio_range=[0.8, 1.2],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='ElasticTransform', gran=[6, 20], mag=[40, 160], voxel_size=0.02, p=0.5),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file=f'{ann_prefix}_oneformer3d_infos_train.pkl', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file=f'{ann_prefix}_oneformer3d_infos_val.pkl', pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='InstanceSegMetric')
test_evaluator = val_evaluator
