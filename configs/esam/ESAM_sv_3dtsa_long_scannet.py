# The control of BiFusion SV on ScanNet-20 frames: the 3D+Tiny-SA SV checkpoint trained
# further on BiFusion's schedule (as ESAM_sv_3dtsa_long_scannet200.py).
_base_ = ['./ESAM_sv_3dtsa_scannet.py']
model = dict(backbone=dict(pretrained=None))     # every weight comes from load_from
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_long_lr))
param_scheduler = _base_.recipe_long_param_scheduler
train_cfg = dict(max_epochs=_base_.recipe_long_epochs, val_interval=_base_.recipe_long_epochs)
load_from_run = 'ESAM_sv_3dtsa_scannet'
