# The control of BiFusion MV on the sample: the online 3D+Tiny-SA sample model from the
# long-trained 3D+Tiny-SA SV sample checkpoint, with the memory (less its conversion
# convolution, which stays at zero) and merge head of the 3D+Tiny-SA MV sample checkpoint, on
# BiFusion's schedule scaled as the MV sample root says (lr 5e-4, warm-up 20, 75 iterations).
_base_ = ['./ESAM_online_3dtsa_scannet_sample.py']
max_iters = _base_.sample_long_iters
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = _base_.sample_long_param_scheduler
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_long_lr))
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from_run = 'ESAM_sv_3dtsa_long_scannet_sample'
partial_load = dict(run='ESAM_online_3dtsa_scannet_sample',
                    prefix_map={'memory.': 'memory.', 'merge_head.': 'merge_head.'},
                    exclude=['memory.conv_convert.*'])
