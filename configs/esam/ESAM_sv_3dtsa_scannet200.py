# ESAM single-view + Tiny-SA: the 3D row plus two layers of local self-attention on the
# stride-1 voxel features (TinySAModule: 16 nearest voxels within 2 voxels, 4 heads; its
# output projections start at zero, so it starts as the 3D model). Same recipe, data and
# length as the 3D row (ESAM_sv_3d_scannet200.py): the neck is the only difference.
_base_ = ['./ESAM_sv_3d_scannet200.py']
model = dict(neck=dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                       max_neighbors=16))
