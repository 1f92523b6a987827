# ESAM online multi-view + Tiny-SA: the online 3D row with the Tiny-SA neck, from the
# 3D+Tiny-SA SV checkpoint; recipe, data and length as the online 3D row.
_base_ = ['./ESAM_online_3d_scannet200.py']
model = dict(neck=dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                       max_neighbors=16))
load_from = 'work_dirs/ESAM_sv_3dtsa_scannet200/epoch_128.pth'
