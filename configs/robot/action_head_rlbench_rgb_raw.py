# Stage 2, route rgb_raw (the control for rgb_aligned): the step's frame of every pack,
# average-pooled to 4x4 tokens per encoder, through fresh, trainable adapters.
_base_ = ['./action_head_rlbench_proprio.py']
action_input = 'packs'
model = dict(token_encoder=dict(type='PackTokenEncoder', encoders={{_base_.encoders}},
                                adapter_dim=256, dim={{_base_.dim}}, checkpoint=None))
train_dataloader = dict(dataset=dict(input=action_input))
val_dataloader = dict(dataset=dict(input=action_input))
test_dataloader = val_dataloader
