"""What ``tools/robot/prepare_rlbench.py`` runs: RLBench episodes -> point files, feature
packs and next-keyframe action targets."""
