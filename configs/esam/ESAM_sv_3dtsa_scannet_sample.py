# The 3D SV sample (three real frames of scene0000_00, CPU schedule) with the Tiny-SA neck;
# same data, recipe and length as ESAM_sv_3d_scannet_sample.py: the neck is the only difference.
_base_ = ['./ESAM_sv_3d_scannet_sample.py']
model = dict(neck=dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                       max_neighbors=16))
