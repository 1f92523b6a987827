# The control of BiFusion SV on the sample: the 3D+Tiny-SA SV sample checkpoint trained
# further on BiFusion's schedule (lr 5e-4, 20 warm-up iterations, 188 iterations: the
# recipe's "trained as long" scaled as the sample root says).
_base_ = ['./ESAM_sv_3dtsa_scannet_sample.py']
max_iters = _base_.sample_long_iters
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = _base_.sample_long_param_scheduler
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_long_lr))
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from_run = 'ESAM_sv_3dtsa_scannet_sample'
