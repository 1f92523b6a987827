# Stage 2, route rgb_aligned: the packs through the adapters of the stage-1 point<->patch
# model (frozen, loaded from its checkpoint: the RGB features in the space aligned with the
# point features). Train stage 1 first (tools/robot/compare_action_inputs.py does when no
# checkpoint is given):
#   python tools/train.py configs/robot/align_point_patch_rlbench.py
_base_ = ['./action_head_rlbench_rgb_raw.py']
model = dict(token_encoder=dict(checkpoint='run:align_point_patch_rlbench'))
