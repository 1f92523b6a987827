# DINO-early on ScanNet-20 frames: the ScanNet-20 fine-tuning control plus DINO-early (as
# ESAM_sv_dino_early_scannet200.py).
_base_ = ['./ESAM_sv_3d_finetune_scannet.py', '../_base_/models/dino_injectors.py']
model = dict(backbone=dict(in_channels=3 + _base_.dino_early_channels),
             injector=_base_.dino_early_injector)
load_policy = dict(zero_pad_keys=['backbone.conv0p1s1.kernel'])
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
