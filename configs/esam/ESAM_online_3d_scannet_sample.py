# The real RGB-D sequence of scene0000_00 (60 frames of sensor depth, ~37 raw frames apart:
# ESAM's ScanNet-MV density) on a CPU schedule, from the SV sample checkpoint. Prepare:
#   python tools/create_data.py scannet_mv --root-path ../shared/data/scannet \
#       --posed-dir ../shared/data/scannet/posed_rgbd --out-dir data/scannet_sample_mv \
#       --workers 2 [--pack-clip]
#   python tools/train.py configs/esam/ESAM_sv_3d_scannet_sample.py      # the SV checkpoint
# It trains and tests on the same sequence (the only labelled real one here): a fit that
# proves the path, not a held-out result.
_base_ = ['./ESAM_online_3d_scannet.py', '../_base_/schedules/cpu_sample.py']
color_norm = {{_base_.color_norm}}
data_root = 'data/scannet_sample_mv/'
# CPU-sized like the SV sample: voxel 0.05 m, no augmentation, BN momentum 0.1, FPS queries
# (semantic head on the superpoints). Without ScanInstanceBoxes in the training pipeline the
# box branch learns each instance's extent in the clip's frames, not in the whole scan.
voxel_size = 0.05
model = dict(data_preprocessor=dict(voxel_size=voxel_size), backbone=dict(bn_momentum=0.1),
             decoder=dict(max_queries=300, query_sampling='fps', pos_embed=True,
                          semantic_source='superpoint'))
# Clips of 3 consecutive frames from a random start (ESAM: 8): one CPU iteration on 8 frames of
# 20,000 points takes ~70 s here, on 3 ~26 s.
train_pipeline = [
    dict(type='LoadAdjacentDataFromFile', num_frames=3),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    color_norm,
    dict(type='Pack3DDetInputs')]
train_dataloader = dict(batch_size=1, num_workers=2,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
# Scored on the part of the scan the sequence observed (scan points within 5 cm of a frame
# point); scan_region='full' (the benchmark's setting) counts every unseen object as missed.
test_pipeline = [
    dict(type='LoadAdjacentDataFromFile', num_frames=-1, load_scan=True,
         scan_region='observed', observed_radius=0.05),
    dict(type='PointSegClassMapping'),
    dict(type='PointInstClassMapping'),
    color_norm,
    dict(type='Pack3DDetInputs')]
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
clip_train_pipeline = train_pipeline[:1] + [dict(type='LoadClipFeature')] + train_pipeline[1:]
clip_test_pipeline = test_pipeline[:1] + [dict(type='LoadClipFeature')] + test_pipeline[1:]
clip_train_dataset = dict(pipeline=clip_train_pipeline)
clip_val_dataset = dict(pipeline=clip_test_pipeline)
# the ablation recipe scaled to the sample (../_base_/schedules/cpu_sample.py)
max_iters = _base_.sample_mv_iters
sample_long_iters = _base_.sample_long_mv_iters
sample_long_param_scheduler = _base_.sample_long_mv_param_scheduler
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = _base_.sample_mv_param_scheduler
optim_wrapper = _base_.sample_optim_wrapper
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=10))
log_processor = _base_.sample_log_processor
load_from_run = 'ESAM_sv_3d_scannet_sample'
