# Stage 2, the base of the four input routes and the floor: the ActionHead on the current
# gripper state only (no visual input). The pc / rgb_raw / rgb_aligned configs inherit this
# file and change only the input (same head, schedule and seed).
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/rlbench_action.py']
dim = 128
model = dict(type='ActionPolicy',
             head=dict(type='ActionHead', dim=dim, heads=4, hidden=256,
                       loss_weights=dict(trans=10.0, rot=1.0, open=1.0)))
max_iters = 600
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3,
                                                         weight_decay=1e-4))
param_scheduler = dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False,
                       eta_min=1e-5)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
                     logger=dict(interval=50))
custom_hooks = [dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
