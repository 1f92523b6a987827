"""The stack's compatibility fixes: each one acts where needed and its target works."""
import collections
import collections.abc

import numpy as np
import pytest
import torch

import oneformer3d  # noqa: F401  (applies the fixes)
from oneformer3d.engine.hooks.safe_checkpoint_hook import SafeCheckpointHook
from oneformer3d.utils import compat


def test_collections_alias_for_minkowskiengine():
    assert collections.Sequence is collections.abc.Sequence
    pytest.importorskip('MinkowskiEngine')
    import MinkowskiEngine as ME  # fails on Python >= 3.10 without the alias
    assert hasattr(ME, 'SparseTensor')


def test_torchvision_imports_and_patch_only_when_needed():
    import timm  # imports torchvision
    import torchvision
    from torchvision.transforms import functional as F
    img = torch.rand(3, 8, 8)
    assert F.hflip(img).flip(-1).equal(img)
    assert timm.create_model('resnet18', pretrained=False, num_classes=0) is not None
    native_ops = torch.version.cuda is not None
    if native_ops:  # a CUDA torch loads torchvision's C ops natively: nothing to patch
        assert compat.APPLIED['torchvision_cpu'] is False
    else:
        assert compat.APPLIED['torchvision_cpu'] is True
        assert torchvision.__version__


def test_checkpoint_loading_is_weights_only(tmp_path):
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint
    safe = tmp_path / 'safe.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}}, safe)
    assert _load_checkpoint(str(safe))['state_dict']['w'].sum() == 2  # through mmengine
    unsafe = tmp_path / 'unsafe.pth'
    torch.save({'state_dict': {}, 'obj': HistoryBuffer([1.0], [1])}, unsafe)
    with pytest.raises(RuntimeError, match=r'unsafe\.pth.*allow_unsafe_checkpoint'):
        _load_checkpoint(str(unsafe))
    try:
        compat.allow_unsafe_checkpoint(True)
        assert isinstance(_load_checkpoint(str(unsafe))['obj'], HistoryBuffer)
    finally:
        compat.allow_unsafe_checkpoint(False)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _load_checkpoint(str(tmp_path / 'missing.pth'))
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a checkpoint')
    with pytest.raises((RuntimeError, Exception), match='junk.pth'):
        _load_checkpoint(str(junk))


def test_safe_checkpoint_hook_roundtrip(tmp_path):
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer([0.5, 0.25, 0.125], [1, 1, 2])
    ckpt = {'message_hub': {'log_scalars': {'train/loss': buf},
                            'runtime_info': {'iter': 3, 'arr': np.arange(3), 'f': np.float32(2)},
                            'resumed_keys': {'train/loss': True}},
            'meta': {'epoch': 1, 'dataset_meta': {'classes': ('a', 'b')}}}
    hook = SafeCheckpointHook()
    hook.before_save_checkpoint(None, ckpt)
    path = tmp_path / 'c.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    hook.after_load_checkpoint(None, loaded)
    back = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(back, HistoryBuffer)
    np.testing.assert_array_equal(back.data[0], buf.data[0])
    np.testing.assert_array_equal(back.data[1], buf.data[1])
    assert loaded['message_hub']['runtime_info']['arr'].tolist() == [0, 1, 2]
    assert loaded['meta']['dataset_meta']['classes'] == ('a', 'b')


def test_amp_dtype():
    assert compat.amp_dtype_for('cpu') is torch.bfloat16
    assert compat.amp_dtype_for('cuda') is torch.float16


def test_cpu_distributed_init_only_when_needed():
    import torch.distributed as dist
    assert compat.init_cpu_distributed('none') is False
    if torch.cuda.is_available():
        assert compat.init_cpu_distributed('pytorch') is False
    assert not dist.is_initialized()  # the 2-process run is in tests/test_train.py


def test_close_distributed_frees_what_holds_the_group_before_destroying_it(tmp_path):
    """A DDP model left in a reference cycle (a Runner and its hooks are one) holds the process
    group; close_distributed must free it while the interpreter is alive, not leave it to
    finalisation (where gloo's threads abort the process). One in-process gloo rank; automatic
    garbage collection off, so only close_distributed can free the cycle."""
    import gc
    import weakref

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    class Holder:
        pass

    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        holder = Holder()
        holder.model = DistributedDataParallel(torch.nn.Linear(2, 1))
        holder.model(torch.ones(3, 2)).sum().backward()
        holder.self = holder  # the cycle
        alive = weakref.ref(holder.model)
        del holder
        assert alive() is not None  # only a collection frees it
        assert compat.close_distributed(sync=True) is True
        assert alive() is None
        assert not dist.is_initialized()
        assert compat.close_distributed(sync=True) is False  # nothing left to close
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        if was_enabled:
            gc.enable()
