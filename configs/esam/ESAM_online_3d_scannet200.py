# ESAM online multi-view, class-agnostic ScanNet200 (create_data.py scannet200_mv): the SV
# baseline plus a decoder-level memory, a merge head and its contrastive criterion, trained on
# 8 consecutive frames per sample from the SV checkpoint; online merging at test time, scored
# on the reconstructed scan named in the infos. Only what differs from the SV config is here.
_base_ = ['./ESAM_sv_3d_scannet200.py']
color_norm = {{_base_.color_norm}}
dataset_type = 'ScanNet200SegMVDataset'
data_root = 'data/scannet200_mv/'
ann_prefix = 'scannet200_mv'
num_frames = 8
train_pipeline = [
    dict(type='LoadAdjacentDataFromFile', num_frames=num_frames),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14], scale_ratio_range=[0.8, 1.2],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    # ESAM's MV pipeline: one elastic field over the clip's frames (as its single pipeline)
    dict(type='ElasticTransform', gran=[6, 20], mag=[40, 160], voxel_size=0.02, p=0.5),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
test_pipeline = [
    dict(type='LoadAdjacentDataFromFile', num_frames=-1, load_scan=True),   # whole sequence
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    color_norm,
    dict(type='Pack3DDetInputs'),
]
# the same pipelines with every frame's stored 2D features (fusion models, *_clip.pkl infos)
clip_train_pipeline = train_pipeline[:1] + [dict(type='LoadClipFeature')] + train_pipeline[1:]
clip_test_pipeline = test_pipeline[:1] + [dict(type='LoadClipFeature')] + test_pipeline[1:]
model = dict(
    # ESAM: max-pooled voxel memory on the four encoder outputs, read box 2.5x, all history
    # (deliberate: the stored memory is detached, ESAM keeps it in the graph within a clip;
    # detach_state=False restores that; reasons in MultilevelMemory's docstring)
    memory=dict(type='MultilevelMemory', point='encoder', strides=[2, 4, 8, 16], scale=2.5,
                queue=-1),
    merge_head=dict(type='MergeHead', in_channels=256, hidden=256, out_channels=128),
    merge_criterion=dict(type='MergeCriterion', temperature=0.1, loss_weight=1.0),
    # ESAM's OnlineMerge (merge_type 'learnable_online', inscat_topk_insts 100). Deliberate
    # difference until the decoder's box branch exists: use_bbox=False (centre distance,
    # weights 0.4/0.4/0.2, threshold 0.8; ESAM's CA config uses boxes: 0.33 each, 0.55)
    merger=dict(type='ESAMOnlineMerger', use_bbox=False, topk_insts=100, voxel_size=0.05),
    test_cfg=dict(topk_insts=20, score_thr=0.25))  # ESAM online: inst_score_thr 0.25
train_dataloader = dict(
    batch_size=4,
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file=f'{ann_prefix}_oneformer3d_infos_train.pkl', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file=f'{ann_prefix}_oneformer3d_infos_val.pkl',
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
# the SV checkpoint (tools/train.py configs/esam/ESAM_sv_3d_scannet200.py); the memory, merge
# head and their BN layers are new: the load report lists them as missing keys
load_from = 'work_dirs/ESAM_sv_3d_scannet200/epoch_128.pth'
