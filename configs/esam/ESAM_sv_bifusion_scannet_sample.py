# BiFusion on the SV sample: its control (ESAM_sv_3dtsa_long_scannet_sample.py) plus the
# BiFusion encoder, from the 3D+Tiny-SA SV sample checkpoint with the identity start.
# No CLIP weights can be downloaded here, so the sample's 2D store is the weight-free
# RGBPatchEncoder (3 channels: mean colour of 8x8 patches of the 480-pixel-high network input,
# i.e. 16.2 pixels of the 1296x968 colour frame per cell); with a real store set img_channels
# (192 for CLIP ViT-B/16 after PixelShuffle) and img_stride, and extract with it. Prepare:
#   python tools/create_data.py scannet_sv --root-path ../shared/data/scannet \
#       --out-dir data/scannet_sample_sv --pack-clip
#   python tools/extract_2d_features.py \
#       --infos data/scannet_sample_sv/scannet_sv_oneformer3d_infos_train_clip.pkl \
#       --encoder RGBPatchEncoder
_base_ = ['./ESAM_sv_3dtsa_long_scannet_sample.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    # fp32 like the rest of the sample (see ../_base_/schedules/cpu_sample.py)
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone,
                    img_channels=3, img_stride=16.2, use_amp=False))
load_policy = dict(prefix_map={'backbone.': 'bi_encoder.backbone3d.'})
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
