# DINO-early on the SV sample: the fine-tuning control of the sample plus the RGB-patch
# store (standing in for DINOv2) reduced to 8 channels and concatenated to the colours at the
# U-Net's input; the stem's 8 new input channels start at zero (identity start from the 3D SV
# sample checkpoint).
_base_ = ['./ESAM_sv_3d_finetune_scannet_sample.py', '../_base_/models/dino_injectors.py']
early_channels = 8
model = dict(backbone=dict(in_channels=3 + early_channels),
             injector=dict(_base_.dino_early_injector, in_channels=3,
                           out_channels=early_channels))
load_policy = dict(zero_pad_keys=['backbone.conv0p1s1.kernel'])
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
