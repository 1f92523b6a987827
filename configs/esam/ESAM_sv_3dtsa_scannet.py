# ESAM single-view + Tiny-SA on ScanNet-20 frames: ESAM_sv_3d_scannet.py plus the neck (as
# ESAM_sv_3dtsa_scannet200.py).
_base_ = ['./ESAM_sv_3d_scannet.py', '../_base_/models/tiny_sa_neck.py']
model = dict(neck=_base_.tiny_sa_neck)
