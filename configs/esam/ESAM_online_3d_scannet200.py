# The ablation chain's 3D online row (class-agnostic ScanNet200, create_data.py
# scannet200_mv): ESAM's online CA reproduction config (ESAM_online_scannet200_CA.py: memory,
# box branch, merge head and criterion, 8-frame clips, merging with boxes) from the chain's
# SV row. The online routes of the chain (Tiny-SA, BiFusion) inherit this file.
_base_ = ['./ESAM_online_scannet200_CA.py']
# the chain's SV row (tools/train.py configs/esam/ESAM_sv_3d_scannet200.py: the same config
# as ESAM_sv_1xb4_scannet200_CA.py)
load_from = 'work_dirs/ESAM_sv_3d_scannet200/epoch_128.pth'
