# The online 3D sample (scene0000_00's three frames, CPU schedule) with the Tiny-SA neck, from
# the 3D+Tiny-SA SV sample checkpoint (tools/train.py configs/esam/ESAM_sv_3dtsa_scannet_sample.py).
_base_ = ['./ESAM_online_3d_scannet_sample.py']
model = dict(neck=dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                       max_neighbors=16))
load_from = 'work_dirs/ESAM_sv_3dtsa_scannet_sample/iter_150.pth'
