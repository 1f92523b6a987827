# BiFusion on the SV sample (three real frames of scene0000_00, CPU schedule of the 3D sample).
# No CLIP weights can be downloaded here, so the sample's 2D store is the weight-free
# RGBPatchEncoder (3 channels: mean colour of 8x8 patches of the 480-pixel-high network input,
# i.e. 16.2 pixels of the 1296x968 colour frame per cell); with a real store set img_channels
# (192 for CLIP ViT-B/16 after PixelShuffle) and img_stride, and extract with it. Prepare:
#   python tools/create_data.py scannet_sv --root-path ../shared/data/scannet \
#       --out-dir data/scannet_sample_sv --pack-clip
#   python tools/extract_2d_features.py \
#       --infos data/scannet_sample_sv/scannet_sv_oneformer3d_infos_train_clip.pkl \
#       --encoder RGBPatchEncoder
#   python tools/train.py configs/esam/ESAM_online_3dtsa_scannet_sample.py   # the 3D weights (MV)
_base_ = ['./ESAM_sv_3dtsa_scannet_sample.py']
img_channels = 3
model = dict(
    backbone=None,
    bi_encoder=dict(type='BiFusionEncoder', backbone3d={{_base_.model.backbone}},
                    img_channels=img_channels, img_stride=16.2, reduce_channels=256,
                    out_channels=128, gate=dict(type='LiteFusionGate'),
                    geo_pe=dict(type='GeoPE', num_freqs=6, scale=4.0)),
    # GeoAwarePooling's width follows the encoder's output (128), not the U-Net's 96
    pool=dict(channel_proj=None))
train_dataloader = dict(dataset=dict(ann_file='scannet_sv_oneformer3d_infos_train_clip.pkl',
                                     pipeline={{_base_.clip_test_pipeline}}))
val_dataloader = dict(dataset=dict(ann_file='scannet_sv_oneformer3d_infos_val_clip.pkl',
                                   pipeline={{_base_.clip_test_pipeline}}))
test_dataloader = val_dataloader
custom_hooks = [
    dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
    dict(type='DataFallbackHook'),
    dict(type='PartialLoadHook',
         checkpoint='work_dirs/ESAM_online_3dtsa_scannet_sample/iter_60.pth',
         prefix_map={'backbone.': 'bi_encoder.backbone3d.'}, on_mismatch='error',
         max_missing_fraction=0.0)]
