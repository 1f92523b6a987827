# The ablation chain's 3D single-view row (class-agnostic ScanNet200): ESAM's CA reproduction
# config (ESAM_sv_1xb4_scannet200_CA.py: GeoAwarePooling, the mixed decoder, the semantic
# criterion, sparse matching, Mask3D's backbone as the start, AdamW 1e-4 + PolyLR, 128 epochs)
# unchanged. Every route of the chain (Tiny-SA, BiFusion, DINO, online) inherits this file and
# states only its own difference; docs/reproduction.md lists what still differs from ESAM.
_base_ = ['./ESAM_sv_1xb4_scannet200_CA.py']
