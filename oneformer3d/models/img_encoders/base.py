"""Frozen 2D encoders for offline feature extraction: common resize/normalise/output contract.

Every encoder maps uint8 RGB images ``(B, 3, H, W)`` (one size per batch) to
``{'pix': (B, C, H_f, W_f), 'global': (B, C_g)}`` float tensors and describes the map with
:meth:`FrozenImageEncoder.meta`: the stride in *original image pixels* per feature cell, so
:func:`oneformer3d.geometry.sample_img_feat` maps a point's pixel ``u`` to
``u_f = (u + 0.5) / stride - 0.5``. Encoders are frozen (``eval``, no gradients).
"""
import math
import os.path as osp
from contextlib import contextmanager
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_weights_file(path: Optional[str], what: str) -> Optional[str]:
    """``path`` when it is an existing local file (or None); no download is ever attempted.

    Raises:
        FileNotFoundError: naming the file and the encoder it was meant for.
    """
    if path is not None and not osp.isfile(path):
        raise FileNotFoundError(f'{path}: weights file for {what} not found (weights are '
                                f'loaded from local files only)')
    return path


@contextmanager
def reading_weights(path: Optional[str], what: str):
    """Turn a library's failure to read ``path`` (a truncated or corrupt ``.safetensors`` /
    ``.bin`` / ``.pth``) into one error naming the file and the encoder; torch's own text
    suggests turning weights-only loading off, which must not be followed for a file of
    unknown origin.

    Raises:
        ValueError: naming ``path``, ``what`` and the library's first line.
    """
    try:
        yield
    except Exception as err:  # torch, safetensors (SafetensorError), zip and pickle errors
        if path is None or isinstance(err, (FileNotFoundError, ImportError)):
            raise
        first = (str(err).strip().splitlines() or [''])[0][:200]
        raise ValueError(f'{path}: not a readable weights file for {what} '
                         f'({type(err).__name__}: {first}); check the download (size, '
                         f'checksum); do not turn weights-only loading off for it') from None


def input_size_for(image_size: Sequence[int], short_side: int, multiple: int) -> Tuple[int, int]:
    """Aspect-preserving network input ``(H, W)``: short side ``short_side``, each side
    rounded to a multiple of ``multiple`` (no crop; 640x480 at short side 448 and patch 14
    -> 448x602, a 0.8 % aspect change)."""
    h, w = image_size
    scale = short_side / min(h, w)
    return (max(multiple, int(round(h * scale / multiple)) * multiple),
            max(multiple, int(round(w * scale / multiple)) * multiple))


class FrozenImageEncoder(nn.Module):
    """Base class: resize (bicubic, aspect-preserving, no crop), normalise, encode.

    Args:
        short_side: network input short side, pixels.
        multiple: input sides are multiples of this (patch size / total stride).
        mean / std: per-channel normalisation of 0..1 RGB.
        pixel_shuffle: ``r > 1`` applies ``PixelShuffle(r)`` to the map
            (C, H_f, W_f) -> (C / r², r·H_f, r·W_f), e.g. CLIP 768×H/16×W/16 -> 192×H/8×W/8.
        layer: which feature the subclass returns (see subclasses).
    """

    name = 'FrozenImageEncoder'

    def __init__(self, short_side: int, multiple: int, mean=CLIP_MEAN, std=CLIP_STD,
                 pixel_shuffle: int = 1, layer: str = 'final'):
        super().__init__()
        self.short_side, self.multiple = short_side, multiple
        self.layer = layer
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.shuffle = nn.PixelShuffle(pixel_shuffle) if pixel_shuffle > 1 else nn.Identity()
        self.pixel_shuffle = pixel_shuffle

    # subclasses implement: encode(x normalised (B,3,h,w)) -> (pix (B,C,hf,wf), global (B,Cg))
    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def trainable_blocks(self, n: int):
        """The modules of the last ``n`` blocks (to fine-tune them inside a model, e.g.
        ``BiFusionEncoder(freeze_blocks=n)``).

        Raises:
            NotImplementedError: for encoders without a block structure.
        """
        raise NotImplementedError(f'{self.name}: no trainable blocks (freeze_blocks must be 0)')

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> ``pix`` (B, C, H_f, W_f), with autograd when the caller
        enables it (:meth:`forward` is the no-grad path for extraction)."""
        return self.shuffle(self.encode(self.preprocess(images))[0])

    def freeze(self):
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True):
        return super().train(False)      # frozen: always eval (BN / dropout)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) RGB -> normalised float (B, 3, h, w) at the input size."""
        if images.dtype != torch.uint8:
            raise TypeError(f'{self.name}: expected uint8 RGB images, got {images.dtype}')
        x = images.float().div_(255.0)
        size = input_size_for(images.shape[-2:], self.short_side, self.multiple)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode='bicubic', align_corners=False,
                              antialias=True).clamp_(0, 1)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """uint8 (B, 3, H, W) -> ``{'pix': (B, C, H_f, W_f), 'global': (B, C_g)}``."""
        pix, glob = self.encode(self.preprocess(images))
        return {'pix': self.shuffle(pix), 'global': glob}

    def meta(self, image_size: Sequence[int], feat_size: Sequence[int]) -> dict:
        """What a stored map needs to be sampled correctly (saved as the file's ``meta``)."""
        h, w = int(image_size[0]), int(image_size[1])
        return dict(encoder=self.name, layer=self.layer,
                    input_size=list(input_size_for((h, w), self.short_side, self.multiple)),
                    image_size=[h, w], feat_size=[int(feat_size[0]), int(feat_size[1])],
                    stride=[w / feat_size[1], h / feat_size[0]],
                    pixel_shuffle=self.pixel_shuffle,
                    mean=[float(v) for v in self.mean.flatten()],
                    std=[float(v) for v in self.std.flatten()])

    def feat_shape(self, image_size: Sequence[int]) -> Tuple[int, int, int]:
        """``(C, H_f, W_f)`` of the stored map for an image of ``image_size`` (one dry run
        on a small black image of that size)."""
        img = torch.zeros(1, 3, int(image_size[0]), int(image_size[1]), dtype=torch.uint8)
        dev = next(iter(self.buffers())).device
        pix = self(img.to(dev))['pix']
        return tuple(pix.shape[1:])


def interpolate_pos_embed(pos: torch.Tensor, grid: Tuple[int, int], num_prefix: int = 1
                          ) -> torch.Tensor:
    """Resize a square ViT position table (prefix + g*g, C) to ``grid = (h, w)`` (bicubic)."""
    prefix, table = pos[:num_prefix], pos[num_prefix:]
    g = int(math.isqrt(table.shape[0]))
    if (g, g) == tuple(grid):
        return pos
    table = table.reshape(1, g, g, -1).permute(0, 3, 1, 2)
    table = F.interpolate(table.float(), size=grid, mode='bicubic', align_corners=False)
    table = table.permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1).to(pos.dtype)
    return torch.cat([prefix, table], dim=0)
