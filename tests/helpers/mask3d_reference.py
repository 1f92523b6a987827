"""Parameter names and shapes of Mask3D's ``Res16UNet34C``, written from its definition
(JonasSchult/Mask3D ``models/res16unet.py`` ``Res16UNetBase.network_initialization``,
``models/resnet.py`` ``ResNetBase._make_layer``, ``models/modules/resnet_block.py``
``BasicBlockBase``), not from our module, so that a key-name drift on our side fails a test.

What the definition says:

* ``PLANES = (32, 64, 128, 256, 256, 128, 96, 96)``, ``LAYERS = (2, 3, 4, 6, 2, 2, 2, 2)``,
  ``INIT_DIM = 32``, ``BasicBlock.expansion = 1``;
* ``conv0p1s1`` (kernel ``conv1_kernel_size``, no bias) + ``bn0``; four encoder stages
  ``conv{1..4}p{1,2,4,8}s2`` (kernel 2, stride 2, keeps the width) + ``bn{1..4}`` +
  ``block{1..4}``; four decoder stages ``convtr{4..7}p{16,8,4,2}s2`` (kernel 2) +
  ``bntr{4..7}`` + ``block{5..8}`` whose inputs are the upsampled width plus the skip's
  (``PLANES[2]``, ``PLANES[1]``, ``PLANES[0]``, ``INIT_DIM``); ``final`` 1x1 conv with bias;
* ``_make_layer``: a ``downsample`` (1x1 conv, no bias, + BN) on the first block when the
  input width differs from ``planes``; blocks have ``conv1``/``norm1``/``conv2``/``norm2``;
* ``get_norm(BATCH_NORM)`` is ``ME.MinkowskiBatchNorm`` (parameters under ``.bn.``).

MinkowskiEngine stores a conv kernel as ``(kernel_volume, in, out)``, or ``(in, out)`` when the
volume is 1, and a bias as ``(1, out)``.
"""
from collections import OrderedDict

PLANES = (32, 64, 128, 256, 256, 128, 96, 96)
LAYERS = (2, 3, 4, 6, 2, 2, 2, 2)
INIT_DIM = 32


def _kernel(volume, cin, cout):
    return (volume, cin, cout) if volume > 1 else (cin, cout)


def _bn(out, name, c):
    for p in ('weight', 'bias', 'running_mean', 'running_var'):
        out[f'{name}.bn.{p}'] = (c,)
    out[f'{name}.bn.num_batches_tracked'] = ()


def _layer(out, name, inplanes, planes, blocks):
    for j in range(blocks):
        cin = inplanes if j == 0 else planes
        out[f'{name}.{j}.conv1.kernel'] = _kernel(27, cin, planes)
        _bn(out, f'{name}.{j}.norm1', planes)
        out[f'{name}.{j}.conv2.kernel'] = _kernel(27, planes, planes)
        _bn(out, f'{name}.{j}.norm2', planes)
        if j == 0 and cin != planes:
            out[f'{name}.{j}.downsample.0.kernel'] = _kernel(1, cin, planes)
            _bn(out, f'{name}.{j}.downsample.1', planes)


def mask3d_res16unet34c_shapes(in_channels=3, out_channels=20, conv1_kernel_size=5):
    """``{parameter or buffer name: shape}`` of Mask3D's Res16UNet34C (its state_dict below
    the ``model.backbone.`` prefix of a Mask3D checkpoint)."""
    out = OrderedDict()
    out['conv0p1s1.kernel'] = _kernel(conv1_kernel_size ** 3, in_channels, INIT_DIM)
    _bn(out, 'bn0', INIT_DIM)
    inplanes = INIT_DIM
    for i, name in enumerate(('conv1p1s2', 'conv2p2s2', 'conv3p4s2', 'conv4p8s2')):
        out[f'{name}.kernel'] = _kernel(8, inplanes, inplanes)
        _bn(out, f'bn{i + 1}', inplanes)
        _layer(out, f'block{i + 1}', inplanes, PLANES[i], LAYERS[i])
        inplanes = PLANES[i]
    skips = (PLANES[2], PLANES[1], PLANES[0], INIT_DIM)
    for j, name in enumerate(('convtr4p16s2', 'convtr5p8s2', 'convtr6p4s2', 'convtr7p2s2')):
        out[f'{name}.kernel'] = _kernel(8, inplanes, PLANES[4 + j])
        _bn(out, f'bntr{4 + j}', PLANES[4 + j])
        _layer(out, f'block{5 + j}', PLANES[4 + j] + skips[j], PLANES[4 + j], LAYERS[4 + j])
        inplanes = PLANES[4 + j]
    out['final.kernel'] = _kernel(1, PLANES[7], out_channels)
    out['final.bias'] = (1, out_channels)
    return out
