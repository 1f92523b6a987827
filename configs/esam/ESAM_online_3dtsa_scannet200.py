# ESAM online multi-view + Tiny-SA: the online 3D row with the Tiny-SA neck, from the
# 3D+Tiny-SA SV checkpoint; recipe, data and length as the online 3D row.
_base_ = ['./ESAM_online_3d_scannet200.py', '../_base_/models/tiny_sa_neck.py']
model = dict(neck=_base_.tiny_sa_neck)
load_from_run = 'ESAM_sv_3dtsa_scannet200'
