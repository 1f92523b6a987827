# ESAM single-view + Tiny-SA: the 3D row plus the Tiny-SA neck (../_base_/models/
# tiny_sa_neck.py; it starts as the identity). Same recipe, data and length as the 3D row
# (ESAM_sv_3d_scannet200.py): the neck is the only difference.
_base_ = ['./ESAM_sv_3d_scannet200.py', '../_base_/models/tiny_sa_neck.py']
model = dict(neck=_base_.tiny_sa_neck)
