# ESAM_sv_3dtsa_long_scannet200.py (the control of BiFusion SV) on ScanNet-20 labelled
# frames (create_data.py scannet_sv), from the ScanNet-20 3D+Tiny-SA SV checkpoint.
_base_ = ['./ESAM_sv_3dtsa_long_scannet200.py']
dataset_type = 'ScanNetSegDataset'
data_root = 'data/scannet_sv/'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                     ann_file='scannet_sv_oneformer3d_infos_train.pkl'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file='scannet_sv_oneformer3d_infos_val.pkl'))
test_dataloader = val_dataloader
# ScanNet-20 labels: the semantic head and its criterion on the 20 benchmark classes (ignore
# id 20) instead of ScanNet200's 200
model = dict(decoder=dict(num_semantic_classes=20), sem_criterion=dict(ignore_index=20))
load_from = 'work_dirs/ESAM_sv_3dtsa_scannet/epoch_128.pth'
