# ESAM online multi-view + Tiny-SA: the online 3D model with the Tiny-SA neck and the fusion
# recipe's schedule (as ESAM_sv_3dtsa_scannet200.py), from the 3D+Tiny-SA SV checkpoint.
_base_ = ['./ESAM_online_3d_scannet200.py']
model = dict(neck=dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                       max_neighbors=16))
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper', optimizer=dict(lr=6e-4, weight_decay=1e-2),
    paramwise_cfg=dict(custom_keys={'neck.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=128, eta_min=1e-6)]
load_from = 'work_dirs/ESAM_sv_3dtsa_scannet200/epoch_128.pth'
