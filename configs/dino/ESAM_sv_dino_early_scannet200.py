# DINO-early (SegDINO3D / ESAM-E+FF-style input fusion): the per-voxel max of the frame's DINOv2
# ViT-L/14 map (1024 channels), reduced by a bias-free Linear to 32 and concatenated to the
# colours at the U-Net's input (in_channels 3 + 32). Fine-tunes the 3D SV checkpoint on the
# DINO routes' schedule. Identity start: the stem's colour slices load from the checkpoint and
# its 32 new input channels start at zero (load_policy zero_pad_keys), so the row predicts
# exactly what the 3D SV checkpoint predicts at step 0.
_base_ = ['./ESAM_sv_3d_finetune_scannet200.py', '../_base_/models/dino_injectors.py']
model = dict(backbone=dict(in_channels=3 + _base_.dino_early_channels),
             injector=_base_.dino_early_injector)
load_policy = dict(zero_pad_keys=['backbone.conv0p1s1.kernel'])
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
