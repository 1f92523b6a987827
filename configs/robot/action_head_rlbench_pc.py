# Stage 2, route pc: the step's point cloud as the teacher sees it — 512 points of the point
# file, [xyz, pc_feat] (3 + 256) -> PointTokenEncoder -> tokens for the ActionHead.
_base_ = ['./action_head_rlbench_proprio.py']
action_input = 'pc'
pc_channels = 256                  # pc_feat width of the prepare tool's teacher (PointMLPEncoder)
model = dict(token_encoder=dict(type='PointTokenEncoder', in_channels=3 + pc_channels,
                                dim={{_base_.dim}}))
train_dataloader = dict(dataset=dict(input=action_input))
val_dataloader = dict(dataset=dict(input=action_input))
test_dataloader = val_dataloader
