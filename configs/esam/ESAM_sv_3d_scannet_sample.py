# The shared real sample's three posed frames of scene0000_00 on a CPU schedule.
# Prepare:  python tools/create_data.py scannet_sv --root-path ../shared/data/scannet \
#               --out-dir data/scannet_sample_sv [--pack-clip]
_base_ = ['./ESAM_sv_3d_scannet.py', '../_base_/schedules/cpu_sample.py']
data_root = 'data/scannet_sample_sv/'
# CPU-sized like oneformer3d_scannet_sample.py: voxel 0.05 m, no augmentation (a fit of the
# three frames, the SV checkpoint the online sample starts from), BN momentum 0.1, FPS queries
# (the semantic head then reads the superpoints: test-time queries do not cover them all; under
# sparse matching 1 of the 16 instances of the three frames has no seed and is not trained),
# and random initialisation (Mask3D's checkpoint cannot be downloaded here).
voxel_size = 0.05
model = dict(data_preprocessor=dict(voxel_size=voxel_size),
             backbone=dict(bn_momentum=0.1, pretrained=None),
             decoder=dict(max_queries=300, query_sampling='fps', pos_embed=True,
                          semantic_source='superpoint'))
train_dataloader = dict(batch_size=1, num_workers=2,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(data_root=data_root, pipeline={{_base_.test_pipeline}}))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
clip_train_dataset = dict(pipeline={{_base_.clip_test_pipeline}})   # no augmentation
# the ablation recipe scaled to the sample (../_base_/schedules/cpu_sample.py); every sample
# row of tools/ablation.py inherits it
max_iters = _base_.sample_sv_iters
sample_long_iters = _base_.sample_long_sv_iters
sample_long_param_scheduler = _base_.sample_long_sv_param_scheduler
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = _base_.sample_sv_param_scheduler
optim_wrapper = _base_.sample_optim_wrapper
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=10))
log_processor = _base_.sample_log_processor
