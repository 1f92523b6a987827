# The Tiny-SA neck of the fusion ablation (a second base of the 3D+Tiny-SA route configs; its
# name does not collide with a model key): two layers of local self-attention on the stride-1
# voxel features, each voxel attending to its 16 nearest voxels within 2 voxels, 4 heads; the
# output projections start at zero, so a model with the neck starts as the model without it.
# The recipe (../schedules/fusion_recipe.py) keeps weight decay off its position MLP.
tiny_sa_neck = dict(type='TinySAModule', num_layers=2, num_heads=4, radius=2.0,
                    max_neighbors=16)
