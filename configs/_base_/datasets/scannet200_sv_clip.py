# Single-view ScanNet200 frames with stored 2D features per frame (for fusion models):
#   python tools/create_data.py scannet200_sv ... --pack-clip      (-> *_infos_{split}_clip.pkl)
#   python tools/extract_2d_features.py --infos <those infos> --encoder OpenClipViT ...
# The pipelines (clip_train_pipeline / clip_test_pipeline) are defined once, in
# scannet200_sv.py. Frames without a stored file are computed online when the model's
# data_preprocessor has an img_encoder (else a clear error), and counted per epoch by
# DataFallbackHook (default runtime).
_base_ = ['./scannet200_sv.py']
train_dataloader = dict(dataset={{_base_.clip_train_dataset}})
val_dataloader = dict(dataset={{_base_.clip_val_dataset}})
test_dataloader = val_dataloader
