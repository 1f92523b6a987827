# The control of BiFusion SV: the 3D+Tiny-SA SV checkpoint trained further on BiFusion's
# schedule (the recipe's "trained as long": lr 5e-4, 2000 warm-up iterations, 160 epochs), so
# the table separates the encoder from the extra training. ESAM_sv_bifusion_scannet200.py is
# this file plus the BiFusion encoder.
_base_ = ['./ESAM_sv_3dtsa_scannet200.py']
model = dict(backbone=dict(pretrained=None))     # every weight comes from load_from
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_long_lr))
param_scheduler = _base_.recipe_long_param_scheduler
train_cfg = dict(max_epochs=_base_.recipe_long_epochs, val_interval=_base_.recipe_long_epochs)
load_from_run = 'ESAM_sv_3dtsa_scannet200'
