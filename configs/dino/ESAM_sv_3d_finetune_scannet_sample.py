# The DINO routes' fine-tuning schedule on the SV sample (three real frames of scene0000_00):
# 60 iterations from the 3D SV sample checkpoint on the sample recipe (warm-up 10, cosine),
# the 3D control of the DINO ablation (tools/ablation.py --preset dino). lr 5e-4, not the
# full scale's 5e-5: 60 iterations at 5e-5 hardly move a 150-iteration fit, and every DINO
# row shares the value.
_base_ = ['../esam/ESAM_sv_3d_scannet_sample.py']
max_iters = _base_.sample_ft_iters
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = _base_.sample_ft_param_scheduler
optim_wrapper = dict(optimizer=dict(lr=_base_.sample_ft_lr))
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from_run = 'ESAM_sv_3d_scannet_sample'
