# The 3D SV sample (three real frames of scene0000_00, CPU schedule) with the Tiny-SA neck;
# same data, schedule and settings as ESAM_sv_3d_scannet_sample.py, so the two compare.
_base_ = ['./ESAM_sv_3d_scannet_sample.py']
model = dict(neck=dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                       max_neighbors=16))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'neck.pos_embed': dict(decay_mult=0.0)}))
