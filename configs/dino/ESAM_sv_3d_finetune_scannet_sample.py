# The DINO routes' fine-tuning schedule on the SV sample (three real frames of scene0000_00):
# 60 iterations at lr 5e-4 from the 3D SV sample checkpoint; the 3D control of the DINO
# ablation (tools/ablation.py --preset dino).
_base_ = ['../esam/ESAM_sv_3d_scannet_sample.py']
max_iters = 60
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = 'work_dirs/ESAM_sv_3d_scannet_sample/iter_150.pth'
