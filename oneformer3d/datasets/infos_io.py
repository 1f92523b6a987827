"""Reading pickles without trusting them: every ``.pkl`` the project reads goes through here.

Infos are pickles (mmdetection3d's format), and unpickling runs whatever a file names: an infos
file from an untrusted source could execute code. :func:`load_pickle` (and :func:`load_infos`,
:func:`loads_pickle` for bytes) unpickle with an allow-list: Python's plain containers and
numbers, ``collections.OrderedDict`` and numpy arrays / dtypes / scalars — everything
``create_data`` writes, and RLBench's ``variation_number.pkl``. Anything else stops with an
error naming the file and the refused global. (Checkpoints are read by ``torch.load``'s own
weights-only unpickler: :func:`oneformer3d.utils.compat.load_local_checkpoint`.)
"""
import io
import pickle

_ALLOWED = {
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'complex'),
    ('builtins', 'slice'), ('collections', 'OrderedDict'),
    ('_codecs', 'encode'),     # bytes in protocol-2 pickles (mmdetection3d's older infos)
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
}
_NUMPY_DTYPE_CLASSES = ('numpy.dtypes', 'numpy')   # e.g. numpy.dtypes.Float64DType


class _SafeUnpickler(pickle.Unpickler):

    def __init__(self, fh, source: str, what: str):
        super().__init__(fh)
        self.source, self.what = source, what

    def find_class(self, module, name):
        if (module, name) in _ALLOWED or (module in _NUMPY_DTYPE_CLASSES
                                          and name.endswith('DType')):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'{self.source}: refusing to unpickle {module}.{name} ({self.what} hold only '
            f'containers, numbers, strings and numpy arrays; this file is not one of them)')


def loads_pickle(data: bytes, source: str, what: str = 'infos'):
    """Unpickle ``data`` with the allow-list of the module docstring; ``source`` (a path or a
    description) and ``what`` (the kind of content expected) name it in errors.

    Raises:
        ValueError: naming ``source`` when ``data`` is not a readable pickle or names a global
            outside the allow-list.
    """
    try:
        return _SafeUnpickler(io.BytesIO(data), source, what).load()
    except pickle.UnpicklingError as err:
        raise ValueError(str(err) if str(err).startswith(source) else
                         f'{source}: unreadable {what} ({err})') from None
    except (EOFError, AttributeError, ImportError, IndexError, TypeError) as err:
        raise ValueError(f'{source}: unreadable {what} ({type(err).__name__}: {err})') from None


def load_pickle(path: str, what: str = 'infos'):
    """:func:`loads_pickle` of the file ``path``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: as :func:`loads_pickle`, naming the file.
    """
    with open(path, 'rb') as fh:
        data = fh.read()
    return loads_pickle(data, path, what)


def load_infos(path: str):
    """An infos file (:func:`load_pickle`); errors name the file."""
    return load_pickle(path, 'infos')
