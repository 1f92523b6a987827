# Reconstructed ScanNet scans with ScanNet200 raw ids (create_data.py scannet200), as
# OneFormer3D's ScanNet200 config: the ScanNet-20 base's loaders and metric with the ScanNet200
# class table and ScanNet's colour statistics (mean / std of the scans' RGB, x 255; upstream
# normalises ScanNet-20 with 127.5 / 127.5 and ScanNet200 with these).
_base_ = ['./scannet_seg.py']
dataset_type = 'ScanNet200SegDataset'
data_root = 'data/scannet200/'
ann_prefix = 'scannet200'
color_mean = (0.47793125906962 * 255, 0.4303257521323044 * 255, 0.3749598901421883 * 255)
color_std = (0.2834475483823543 * 255, 0.27566157565723015 * 255, 0.27018971370874995 * 255)
color_norm = dict(type='NormalizePointsColor', color_mean=color_mean, color_std=color_std)
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
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                     ann_file=f'{ann_prefix}_oneformer3d_infos_train.pkl',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file=f'{ann_prefix}_oneformer3d_infos_val.pkl',
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
