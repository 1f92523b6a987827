# RLBench alignment data (tools/robot/prepare_rlbench.py): feature packs per encoder + point files
# with teacher features; steps [0, 100) train, [100, 125) held out (the shared episode has 125).
# the robot stack registers its modules when imported (it is not part of the 3D package)
custom_imports = dict(imports=['oneformer3d.robot'], allow_failed_imports=False)
data_root = 'data/rlbench/'
rlbench_task = 'open_drawer'
episodes = ['episode0']
encoders = dict(rgb=3, dino_s=384)          # pack name -> channels (any encoder with a pack)
dataset_common = dict(
    type='RLBenchAlignDataset', data_root=data_root, task=rlbench_task, episodes=episodes,
    encoders=encoders, pack_store='zarr', pc_root='pc_dataset/PC/teacher',
    pc_tag='teacher', num_points=1024, num_tokens=64, strict_pairing=True,
    pairing_fallback='random', anchor_in_window='middle')
train_dataloader = dict(
    batch_size=16, num_workers=2, persistent_workers=True, pin_memory=False, prefetch_factor=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, step_range=[0, 100]))
val_dataloader = dict(
    batch_size=25, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, step_range=[100, 125], sample_unit='step', test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='RetrievalMetric')
test_evaluator = val_evaluator
