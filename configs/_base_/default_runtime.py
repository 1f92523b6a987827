# Runtime shared by every config (mmengine Runner).
default_scope = 'oneformer3d'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
                dict(type='DataFallbackHook')]  # logs only when a data fallback flag is set
env_cfg = dict(cudnn_benchmark=False,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))  # tools/train.py switches to gloo on CPU
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
# where runs named by load_from_run / partial_load / 'run:<name>' are found:
# <work_root>/<run>/<the run's final checkpoint> (oneformer3d/engine/run_links.py)
work_root = 'work_dirs'
resume = False
randomness = dict(seed=0)
# Set True only for checkpoints you trust: allows unpickling files that are not weights-only.
allow_unsafe_checkpoint = False
