"""Reading infos ``.pkl`` files without trusting them.

Infos are pickles (mmdetection3d's format), and unpickling runs whatever a file names: an infos
file from an untrusted source could execute code. :func:`load_infos` unpickles with an
allow-list: Python's plain containers and numbers, ``collections.OrderedDict`` and numpy
arrays / dtypes / scalars — everything ``create_data`` writes. Anything else stops with an
error naming the file and the refused global.
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


class _InfosUnpickler(pickle.Unpickler):

    def __init__(self, fh, source: str):
        super().__init__(fh)
        self.source = source

    def find_class(self, module, name):
        if (module, name) in _ALLOWED or (module in _NUMPY_DTYPE_CLASSES
                                          and name.endswith('DType')):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'{self.source}: refusing to unpickle {module}.{name} (infos hold only containers, '
            f'numbers, strings and numpy arrays; this file is not one create_data wrote)')


def load_infos(path: str):
    """Unpickle an infos file with the allow-list of the module docstring.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file when it is not a readable pickle or names a global
            outside the allow-list.
    """
    with open(path, 'rb') as fh:
        data = fh.read()
    try:
        return _InfosUnpickler(io.BytesIO(data), path).load()
    except pickle.UnpicklingError as err:
        raise ValueError(str(err) if str(err).startswith(path) else
                         f'{path}: unreadable infos ({err})') from None
    except (EOFError, AttributeError, ImportError, IndexError, TypeError) as err:
        raise ValueError(f'{path}: unreadable infos ({type(err).__name__}: {err})') from None
