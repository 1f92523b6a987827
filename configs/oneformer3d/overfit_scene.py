# Overfitting sanity check (`make overfit`): train and evaluate on one scene, class-agnostic,
# no augmentation; CPU settings from the sample config. tools/overfit.py prepares the scene
# and sets data_root / ann files. 120 iterations fit in 20 minutes on 2 cores.
_base_ = ['./oneformer3d_scannet_sample.py']
model = dict(num_instance_classes=1, decoder=dict(num_semantic_classes=None),
             sem_criterion=None)
val_evaluator = dict(type='InstanceSegMetric', class_agnostic=True)
test_evaluator = val_evaluator
max_iters = 120
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
