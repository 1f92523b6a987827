from .res16unet import Res16UNet34C, mask3d_backbone_state_dict

__all__ = ['Res16UNet34C', 'mask3d_backbone_state_dict']
