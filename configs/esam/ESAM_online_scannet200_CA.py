# ESAM online multi-view, class-agnostic, ScanNet200: the reproduction of xuxw98/ESAM
# configs/ESAM_CA/ESAM_online_scannet200_CA.py (commit dcdceae3): the SV reproduction model
# plus the memory, the box branch, the merge head and its criterion, trained on 8-frame clips
# from the SV checkpoint; online merging with boxes at test time. Data: create_data.py
# scannet200_mv. Values equal upstream's; a comment says where and why not.
_base_ = ['./ESAM_sv_1xb4_scannet200_CA.py']
color_norm = {{_base_.color_norm}}
dataset_type = 'ScanNet200SegMVDataset'
data_root = 'data/scannet200_mv/'
ann_prefix = 'scannet200_mv'
num_frames = 8
# upstream: LoadAdjacentDataFromFile(num_frames=8, num_sample=20000, with_rec=True); our
# frames are sampled to their point budget when the infos are written (create_data.py
# --max-points); BboxCalculation -> ScanInstanceBoxes (boxes over the scan, after the rigid
# augmentation; ESAM also moves the scan by the elastic field: see its docstring)
train_pipeline = [
    dict(type='LoadAdjacentDataFromFile', num_frames=num_frames),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.14, 3.14], scale_ratio_range=[0.8, 1.2],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='ScanInstanceBoxes'),
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
# the same pipelines with every frame's stored 2D features (fusion models, *_clip.pkl infos;
# ours, not upstream's: they replace the SV base's single-frame ones)
clip_train_pipeline = train_pipeline[:1] + [dict(type='LoadClipFeature')] + train_pipeline[1:]
clip_test_pipeline = test_pipeline[:1] + [dict(type='LoadClipFeature')] + test_pipeline[1:]
model = dict(
    # upstream: load_from the SV checkpoint (below), not Mask3D's backbone
    backbone=dict(pretrained=None),
    # MultilevelMemory(in_channels=[32, 64, 128, 256], queue=-1, vmp_layer=(0, 1, 2, 3)):
    # the four encoder outputs, all history, the stored features kept in the graph within a
    # clip (detach_state=False). Deliberate: the conversion conv starts at zero (ESAM's
    # constant_init on a Parameter is a no-op, so its memory starts random)
    memory=dict(type='MultilevelMemory', point='encoder', strides=[2, 4, 8, 16], scale=2.5,
                queue=-1, detach_state=False),
    decoder=dict(bbox_flag=True),       # temporal_attn=False: no temporal aggregator
    merge_head=dict(type='MergeHead', in_channels=256, hidden=512, out_channels=256,
                    norm='batch'),
    # ScanNetMergeCriterion_Fast(tmp=True, p2s=False): temporal contrast of instance centres
    # (mean embedding of the queries seeded inside each instance), tau 0.07, tmp_weight 2.0
    merge_criterion=dict(type='ESAMMergeCriterion', temperature=0.07, loss_weight=2.0),
    # OnlineMerge(inscat_topk_insts=100, use_bbox=True): weights 0.33 each, threshold 0.55
    merger=dict(type='ESAMOnlineMerger', use_bbox=True, topk_insts=100, voxel_size=0.05),
    test_cfg=dict(topk_insts=20, score_thr=0.25))          # inst_score_thr 0.25
train_dataloader = dict(
    batch_size=4,
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file=f'{ann_prefix}_oneformer3d_infos_train.pkl', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file=f'{ann_prefix}_oneformer3d_infos_val.pkl',
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
# upstream: load_from = the SV run's epoch_128.pth (work_dirs/ESAM_sv_scannet200_CA/); ours
# names the SV reproduction run, whose final checkpoint is the same file. The memory, box and
# merge heads are new: the load report lists them as missing keys
load_from_run = 'ESAM_sv_1xb4_scannet200_CA'
