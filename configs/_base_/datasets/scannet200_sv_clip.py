# Single-view ScanNet200 frames with stored 2D features per frame (for fusion models):
#   python tools/create_data.py scannet200_sv ... --pack-clip      (-> *_infos_{split}_clip.pkl)
#   python tools/extract_2d_features.py --infos <those infos> --encoder OpenClipViT ...
# LoadClipFeature runs before the 3D augmentations; the projection undoes them with the
# recorded aug_matrix. Frames without a stored file are computed online when the model's
# data_preprocessor has an img_encoder (else a clear error), and counted per epoch by
# DataFallbackHook (default runtime).
_base_ = ['./scannet200_sv.py']
color_norm = {{_base_.color_norm}}
ann_prefix = 'scannet200_sv'
clip_feat_dir = 'clip_feat'
train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='LoadClipFeature', feat_dir=clip_feat_dir),
    dict(type='PointSample', num_points=20000),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14], scale_ratio_range=[0.8, 1.2],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='LoadClipFeature', feat_dir=clip_feat_dir),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
train_dataloader = dict(dataset=dict(
    ann_file=f'{ann_prefix}_oneformer3d_infos_train_clip.pkl', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    ann_file=f'{ann_prefix}_oneformer3d_infos_val_clip.pkl', pipeline=test_pipeline))
test_dataloader = val_dataloader
