# BiFusion SV on ScanNet-20 frames (create_data.py scannet_sv --pack-clip, then
# extract_2d_features.py): its control plus the BiFusion encoder (as
# ESAM_sv_bifusion_scannet200.py), from the ScanNet-20 3D+Tiny-SA SV checkpoint.
_base_ = ['./ESAM_sv_3dtsa_long_scannet.py', '../_base_/models/bifusion_encoder.py']
model = dict(
    backbone=None,
    bi_encoder=dict(_base_.bifusion_encoder, backbone3d=_base_.model.backbone))
load_policy = dict(prefix_map={'backbone.': 'bi_encoder.backbone3d.'})
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
