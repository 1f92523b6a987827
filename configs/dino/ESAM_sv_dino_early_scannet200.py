# DINO-early (SegDINO3D / ESAM-E+FF-style input fusion): the per-voxel max of the frame's DINOv2
# ViT-L/14 map (1024 channels), reduced by a learnable Linear to 32 and concatenated to the
# colours at the U-Net's input (in_channels 3 + 32). Fine-tunes the 3D SV checkpoint on the
# DINO routes' schedule (its stem has 3 input channels: that one tensor is reported
# shape-mismatched and starts fresh).
_base_ = ['./ESAM_sv_3d_finetune_scannet200.py']
early_channels = 32
model = dict(backbone=dict(in_channels=3 + early_channels),
             injector=dict(type='DINOEarlyInjector', in_channels=1024,
                           out_channels=early_channels, pool='max'))
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
