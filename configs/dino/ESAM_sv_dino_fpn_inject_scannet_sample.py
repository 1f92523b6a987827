# DINO pyramid injection on the SV sample (three real frames of scene0000_00), fine-tuning the
# 3D SV sample checkpoint. No DINOv2 weights can be downloaded here: the sample's 2D store is
# the weight-free RGB-patch one (3 channels) of ESAM_sv_bifusion_scannet_sample.py (same
# preparation); with a DINOv2 store set in_channels (1024 for ViT-L/14).
_base_ = ['../esam/ESAM_sv_3d_scannet_sample.py']
model = dict(injector=dict(type='DINOFPNInjector', in_channels=3, inject_at='upsampled',
                           pool='max', strides=[8, 4, 2, 1]))
train_dataloader = dict(dataset=dict(ann_file='scannet_sv_oneformer3d_infos_train_clip.pkl',
                                     pipeline={{_base_.clip_test_pipeline}}))
val_dataloader = dict(dataset=dict(ann_file='scannet_sv_oneformer3d_infos_val_clip.pkl',
                                   pipeline={{_base_.clip_test_pipeline}}))
test_dataloader = val_dataloader
max_iters = 60
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = 'work_dirs/ESAM_sv_3d_scannet_sample/iter_150.pth'
