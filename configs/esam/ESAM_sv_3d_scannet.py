# ESAM single-view, class-agnostic, on ScanNet-20 labelled frames (create_data.py scannet_sv
# [--pack-clip]): the ScanNet-20 chain's root; its routes inherit this file's dataset.
_base_ = ['./ESAM_sv_3d_scannet200.py']
dataset_type = 'ScanNetSegDataset'
data_root = 'data/scannet_sv/'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                     ann_file='scannet_sv_oneformer3d_infos_train.pkl'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file='scannet_sv_oneformer3d_infos_val.pkl'))
test_dataloader = val_dataloader
# the fusion routes' datasets (infos with 2D feature paths)
clip_train_dataset = dict(ann_file='scannet_sv_oneformer3d_infos_train_clip.pkl')
clip_val_dataset = dict(ann_file='scannet_sv_oneformer3d_infos_val_clip.pkl')
# ScanNet-20 labels: the semantic head and its criterion on the 20 benchmark classes (ignore
# id 20) instead of ScanNet200's 200
model = dict(decoder=dict(num_semantic_classes=20), sem_criterion=dict(ignore_index=20))
