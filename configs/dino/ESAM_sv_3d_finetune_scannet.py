# The DINO routes' fine-tuning control on ScanNet-20 frames: the ScanNet-20 3D SV checkpoint
# on the schedule of ESAM_sv_3d_finetune_scannet200.py.
_base_ = ['../esam/ESAM_sv_3d_scannet.py']
model = dict(backbone=dict(pretrained=None))   # the weights come from load_from
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_ft_lr))
param_scheduler = _base_.recipe_ft_param_scheduler
train_cfg = dict(max_epochs=_base_.recipe_ft_epochs, val_interval=8)
load_from_run = 'ESAM_sv_3d_scannet'
