# DINO-BiFusion on the SV sample: the BiFusion sample model (RGB-patch store standing in for
# DINOv2: no weights can be downloaded here) started from the 3D SV sample checkpoint
# (load_from + PartialLoadHook for the U-Net) on the DINO routes' sample schedule
# (ESAM_sv_3d_finetune_scannet_sample.py).
_base_ = ['../esam/ESAM_sv_bifusion_scannet_sample.py']
max_iters = 60
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = 'work_dirs/ESAM_sv_3d_scannet_sample/iter_150.pth'
# load_from finds decoder and heads only (the U-Net's keys differ, the decoder's input
# projections are 128-wide here): most of the model is "missing" to it until the hook below
# loads the U-Net, so the runner's missing-fraction guard is widened for this config.
load_policy = dict(max_missing_fraction=0.9)
custom_hooks = [
    dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
    dict(type='DataFallbackHook'),
    dict(type='PartialLoadHook', checkpoint=load_from,
         prefix_map={'backbone.': 'bi_encoder.backbone3d.'}, on_mismatch='error',
         max_missing_fraction=0.0)]
