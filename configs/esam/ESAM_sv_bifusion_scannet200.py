# ESAM single-view BiFusion: the 3D+Tiny-SA model whose backbone becomes a BiFusionEncoder —
# the same Res16UNet34C as backbone3d plus a 2D branch on the frame's stored CLIP map
# (ViT-B/16 after PixelShuffle x2: 192 channels at stride 8 -> conv_reduce 256 -> per-point
# bilinear sample -> Linear 128), a per-voxel fusion gate and Geo-PE; the decoder's width
# follows the encoder (128). Infos with feature paths: create_data.py scannet200_sv
# --pack-clip, then tools/extract_2d_features.py (see the dataset base). The 3D weights come
# from the 3D+Tiny-SA multi-view checkpoint (PartialLoadHook). Recipe: lr 5e-4, 2000 warm-up
# iterations, 160 epochs. img_stride (image pixels per feature cell of your store, e.g. 8 for
# 640x480 frames) makes the encoder check every map's recorded stride; None checks channels only.
_base_ = ['./ESAM_sv_3dtsa_scannet200.py']
img_channels = 192
model = dict(
    backbone=None,
    # the U-Net's weights come from the 3D+Tiny-SA MV checkpoint (PartialLoadHook below),
    # not from Mask3D's file
    bi_encoder=dict(type='BiFusionEncoder',
                    backbone3d=dict(_base_.model.backbone, pretrained=None),
                    img_channels=img_channels, img_stride=None, reduce_channels=256,
                    out_channels=128, gate=dict(type='LiteFusionGate'),
                    geo_pe=dict(type='GeoPE', num_freqs=6, scale=4.0), use_amp=True),
    # GeoAwarePooling's width follows the encoder's output (128), not the U-Net's 96
    pool=dict(channel_proj=None))
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=2000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=160, eta_min=1e-6)]
train_cfg = dict(max_epochs=160)
# the default runtime's hooks plus the 3D weights of the 3D+Tiny-SA MV model (after
# load_from, so they win; skipped on resume)
custom_hooks = [
    dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
    dict(type='DataFallbackHook'),
    dict(type='PartialLoadHook',
         checkpoint='work_dirs/ESAM_online_3dtsa_scannet200/epoch_128.pth',
         prefix_map={'backbone.': 'bi_encoder.backbone3d.'}, on_mismatch='error',
         max_missing_fraction=0.0)]
