# The 3D SV sample (three real frames of scene0000_00, CPU schedule) with the Tiny-SA neck;
# same data, recipe and length as ESAM_sv_3d_scannet_sample.py: the neck is the only difference.
_base_ = ['./ESAM_sv_3d_scannet_sample.py', '../_base_/models/tiny_sa_neck.py']
model = dict(neck=_base_.tiny_sa_neck)
