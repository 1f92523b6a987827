# ESAM_online_bifusion_scannet200.py on ScanNet-20 labelled sequences (create_data.py
# scannet_mv --pack-clip, then extract_2d_features.py), from the ScanNet-20 checkpoints.
_base_ = ['./ESAM_online_bifusion_scannet200.py']
dataset_type = 'ScanNetSegMVDataset'
data_root = 'data/scannet_mv/'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                     ann_file='scannet_mv_oneformer3d_infos_train_clip.pkl'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file='scannet_mv_oneformer3d_infos_val_clip.pkl'))
test_dataloader = val_dataloader
# ScanNet-20 labels: the semantic head and its criterion on the 20 benchmark classes (ignore
# id 20) instead of ScanNet200's 200
model = dict(decoder=dict(num_semantic_classes=20), sem_criterion=dict(ignore_index=20))
load_from = 'work_dirs/ESAM_sv_bifusion_scannet/epoch_160.pth'
custom_hooks = [
    dict(type='SafeCheckpointHook'), dict(type='MetricRunInfoHook'),
    dict(type='DataFallbackHook'),
    dict(type='PartialLoadHook', checkpoint='work_dirs/ESAM_online_3dtsa_scannet/epoch_128.pth',
         prefix_map={'memory.': 'memory.', 'merge_head.': 'merge_head.'},
         exclude=['memory.conv_convert.*'], on_mismatch='error', max_missing_fraction=0.0)]
