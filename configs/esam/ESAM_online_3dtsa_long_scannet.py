# The control of BiFusion MV on ScanNet-20 sequences (as ESAM_online_3dtsa_long_scannet200.py).
_base_ = ['./ESAM_online_3dtsa_scannet.py']
optim_wrapper = dict(optimizer=dict(lr=_base_.recipe_long_lr))
param_scheduler = _base_.recipe_long_param_scheduler
train_cfg = dict(max_epochs=_base_.recipe_long_epochs)
load_from_run = 'ESAM_sv_3dtsa_long_scannet'
partial_load = dict(run='ESAM_online_3dtsa_scannet',
                    prefix_map={'memory.': 'memory.', 'merge_head.': 'merge_head.'},
                    exclude=['memory.conv_convert.*'])
