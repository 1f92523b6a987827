# The control of BiFusion MV: the online 3D+Tiny-SA model from the long-trained 3D+Tiny-SA SV
# checkpoint (ESAM_sv_3dtsa_long_scannet200.py), with the memory and merge head of the
# 3D+Tiny-SA MV checkpoint, on BiFusion's schedule (lr 5e-4, 2000 warm-up iterations, 160
# epochs). ESAM_online_bifusion_scannet200.py is this file plus the BiFusion encoder.
# The memory's conversion convolution (and its BN) is not taken: it stays at its zero start,
# so the row predicts exactly what its SV parent predicts before the first step, while the
# memory's 3x3 branches and the merge head start trained (partial_load: after load_from,
# which has none of them; skipped on resume).
_base_ = ['./ESAM_online_3dtsa_scannet200.py']
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_long_lr))
param_scheduler = _base_.recipe_long_param_scheduler
train_cfg = dict(max_epochs=_base_.recipe_long_epochs)
load_from_run = 'ESAM_sv_3dtsa_long_scannet200'
partial_load = dict(run='ESAM_online_3dtsa_scannet200',
                    prefix_map={'memory.': 'memory.', 'merge_head.': 'merge_head.'},
                    exclude=['memory.conv_convert.*'])
