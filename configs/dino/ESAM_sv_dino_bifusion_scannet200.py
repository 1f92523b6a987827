# DINO-BiFusion (single scale): the BiFusion encoder fed with the DINOv2 ViT-L/14 store (1024
# channels at the CLIP path convention) — the channel-agnostic conv_reduce maps 1024 -> 256;
# the Tiny-SA neck of the BiFusion route comes along (zero-initialised: no change at start).
# Fine-tunes from the 3D SV checkpoint: PartialLoadHook puts its U-Net into
# bi_encoder.backbone3d (load_from cannot: the keys differ), on the DINO routes' shortened
# schedule (64 epochs, lower lr).
_base_ = ['../esam/ESAM_sv_bifusion_scannet200.py']
model = dict(bi_encoder=dict(img_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=64, eta_min=1e-6)]
train_cfg = dict(max_epochs=64, val_interval=8)
custom_hooks = [
    dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
    dict(type='DataFallbackHook'),
    dict(type='PartialLoadHook', checkpoint='work_dirs/ESAM_sv_3d_scannet200/epoch_128.pth',
         prefix_map={'backbone.': 'bi_encoder.backbone3d.'}, on_mismatch='error',
         max_missing_fraction=0.0)]
