# Single-view ScanNet200 frames (create_data.py scannet200_sv): <= 20,000 points per frame,
# centred, with pose/intrinsic/img_path/depth_path in the infos (ESAM SV setting). Loaders,
# colour statistics, test pipeline and metric come from the reconstructed-scan base.
_base_ = ['./scannet200_seg.py']
data_root = 'data/scannet200_sv/'
ann_prefix = 'scannet200_sv'
color_norm = {{_base_.color_norm}}
train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
    dict(type='LoadAnnotations3D'),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='PointSample', num_points=20000),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14], scale_ratio_range=[0.8, 1.2],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    # ESAM's SV pipeline (ElasticTransfrom gran [6, 20], mag [40, 160], voxel 0.02, p 0.5)
    dict(type='ElasticTransform', gran=[6, 20], mag=[40, 160], voxel_size=0.02, p=0.5),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
# The same pipelines with the frame's stored 2D features (fusion models; *_clip.pkl infos of
# create_data.py --pack-clip). LoadClipFeature runs before the 3D augmentations; the
# projection undoes them with the recorded aug_matrix.
clip_feat_dir = 'clip_feat'
clip_train_pipeline = train_pipeline[:4] + [
    dict(type='LoadClipFeature', feat_dir=clip_feat_dir)] + train_pipeline[4:]
clip_test_pipeline = train_pipeline[:4] + [
    dict(type='LoadClipFeature', feat_dir=clip_feat_dir), color_norm,
    dict(type='Pack3DDetInputs')]   # the base's test pipeline with the features
# what a fusion config merges into its loaders' datasets (infos of create_data.py --pack-clip)
clip_train_dataset = dict(ann_file=f'{ann_prefix}_oneformer3d_infos_train_clip.pkl',
                          pipeline=clip_train_pipeline)
clip_val_dataset = dict(ann_file=f'{ann_prefix}_oneformer3d_infos_val_clip.pkl',
                        pipeline=clip_test_pipeline)
train_dataloader = dict(
    batch_size=16,
    dataset=dict(data_root=data_root, ann_file=f'{ann_prefix}_oneformer3d_infos_train.pkl',
                 pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root,
                                   ann_file=f'{ann_prefix}_oneformer3d_infos_val.pkl'))
test_dataloader = val_dataloader
val_evaluator = dict(type='InstanceSegMetric', class_agnostic=True)
test_evaluator = val_evaluator
