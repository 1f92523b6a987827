# The online 3D sample (scene0000_00's three frames, CPU schedule) with the Tiny-SA neck, from
# the 3D+Tiny-SA SV sample checkpoint (tools/train.py configs/esam/ESAM_sv_3dtsa_scannet_sample.py).
_base_ = ['./ESAM_online_3d_scannet_sample.py', '../_base_/models/tiny_sa_neck.py']
model = dict(neck=_base_.tiny_sa_neck)
load_from_run = 'ESAM_sv_3dtsa_scannet_sample'
