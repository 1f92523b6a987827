# ESAM / OneFormer3D schedule: AdamW 1e-4, weight decay 0.05, PolyLR (power 0.9), 128 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = dict(type='PolyLR', begin=0, end=128, power=0.9, by_epoch=True)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=128, val_interval=16)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
