# RLBench action data (tools/robot/prepare_rlbench.py on the shared episodes): one sample per step,
# the target is the gripper pose at the next keyframe (PerAct's rule). The split is by
# episode: 0-5 train, 6-7 held out. Another split: --cfg-options
# train_dataloader.dataset.episodes="[...]" val_dataloader.dataset.episodes="[...]" (and
# *.dataset.const_episodes, the constant baseline's episodes; test_dataloader is
# val_dataloader), or tools/robot/compare_action_inputs.py --train-episodes / --test-episodes.
# the robot stack registers its modules when imported (it is not part of the 3D package)
custom_imports = dict(imports=['oneformer3d.robot'], allow_failed_imports=False)
data_root = 'data/rlbench/'
rlbench_task = 'open_drawer'
train_episodes = [f'episode{i}' for i in range(6)]
test_episodes = ['episode6', 'episode7']
action_input = 'proprio'
encoders = dict(rgb=3, dino_s=384)          # pack name -> channels (packs routes)
dataset_common = dict(
    type='RLBenchActionDataset', data_root=data_root, task=rlbench_task, input=action_input,
    encoders=encoders, pack_store='zarr', pc_root='pc_dataset/PC/teacher', pc_tag='teacher',
    num_points=512, token_grid=4, const_episodes=train_episodes)
train_dataloader = dict(
    batch_size=32, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, episodes=train_episodes))
val_dataloader = dict(
    batch_size=64, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, episodes=test_episodes, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='ActionMetric')
test_evaluator = val_evaluator
