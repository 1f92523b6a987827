# ESAM online + Tiny-SA on ScanNet-20 sequences: ESAM_online_3d_scannet.py plus the neck,
# from the ScanNet-20 3D+Tiny-SA SV checkpoint (as ESAM_online_3dtsa_scannet200.py).
_base_ = ['./ESAM_online_3d_scannet.py', '../_base_/models/tiny_sa_neck.py']
model = dict(neck=_base_.tiny_sa_neck)
load_from_run = 'ESAM_sv_3dtsa_scannet'
