# DINO pyramid injection on the SV sample (three real frames of scene0000_00), fine-tuning the
# 3D SV sample checkpoint on the DINO routes' sample schedule. No DINOv2 weights can be
# downloaded here: the sample's 2D store is the weight-free RGB-patch one (3 channels) of
# ESAM_sv_bifusion_scannet_sample.py (same preparation); with a DINOv2 store set in_channels
# (1024 for ViT-L/14).
_base_ = ['./ESAM_sv_3d_finetune_scannet_sample.py']
model = dict(injector=dict(type='DINOFPNInjector', in_channels=3, inject_at='upsampled',
                           pool='max', strides=[8, 4, 2, 1]))
train_dataloader = dict(dataset=dict(ann_file='scannet_sv_oneformer3d_infos_train_clip.pkl',
                                     pipeline={{_base_.clip_test_pipeline}}))
val_dataloader = dict(dataset=dict(ann_file='scannet_sv_oneformer3d_infos_val_clip.pkl',
                                   pipeline={{_base_.clip_test_pipeline}}))
test_dataloader = val_dataloader
