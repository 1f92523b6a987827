# DINO-BiFusion (single scale): the BiFusion encoder fed with the DINOv2 ViT-L/14 store (1024
# channels at the CLIP path convention) — the channel-agnostic conv_reduce maps 1024 -> 256;
# the Tiny-SA neck of the BiFusion route comes along (zero-initialised: no change at start).
# Starts from the 3D SV checkpoint like the other DINO routes: load_from takes what fits
# (decoder, heads), PartialLoadHook puts its U-Net into bi_encoder.backbone3d (load_from
# cannot: the keys differ). Schedule: the DINO routes' (ESAM_sv_3d_finetune_scannet200.py).
_base_ = ['../esam/ESAM_sv_bifusion_scannet200.py']
model = dict(bi_encoder=dict(img_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=5e-5, weight_decay=0.05))
param_scheduler = dict(_delete_=True, type='PolyLR', begin=0, end=64, power=0.9, by_epoch=True)
train_cfg = dict(max_epochs=64, val_interval=8)
load_from = 'work_dirs/ESAM_sv_3d_scannet200/epoch_128.pth'
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
