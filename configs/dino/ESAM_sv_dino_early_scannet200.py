# DINO-early (SegDINO3D / ESAM-E+FF-style input fusion): the per-voxel max of the frame's DINOv2
# ViT-L/14 map (1024 channels), reduced by a learnable Linear to 32 and concatenated to the
# colours at the U-Net's input (in_channels 3 + 32). Fine-tunes the 3D SV checkpoint (its stem
# has 3 input channels: that one tensor is reported shape-mismatched and starts fresh).
_base_ = ['../esam/ESAM_sv_3d_scannet200.py']
early_channels = 32
model = dict(backbone=dict(in_channels=3 + early_channels),
             injector=dict(type='DINOEarlyInjector', in_channels=1024,
                           out_channels=early_channels, pool='max'))
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-5))
param_scheduler = dict(end=64)
train_cfg = dict(max_epochs=64, val_interval=8)
load_from = 'work_dirs/ESAM_sv_3d_scannet200/epoch_128.pth'
