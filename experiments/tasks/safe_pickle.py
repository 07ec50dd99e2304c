"""Unpickling data files that may come from anywhere: a restricted unpickler
admits the globals a data format needs and refuses every other one, so a
crafted file cannot run code (``pickle.load`` would call whatever the file
names)."""

from __future__ import annotations

import codecs
import pickle

import numpy as np

# numpy array reconstruction, under the module names numpy 1.x and 2.x write;
# Python 3 writes an array's bytes in protocol 2 as codecs.encode(str, "latin1"),
# a pure conversion, and empty bytes as bytes(); protocol 5 builds an array from
# its bytes with _frombuffer.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_FROMBUFFER = np.zeros(0).__reduce_ex__(5)[0]
NUMPY_ARRAY = {
    ("_codecs", "encode"): codecs.encode,
    ("__builtin__", "bytes"): bytes,
    ("builtins", "bytes"): bytes,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global outside what its format needs."""


class _Restricted(pickle.Unpickler):
    def __init__(self, file, path: str, allowed: dict) -> None:
        super().__init__(file, encoding="latin1")
        self.path, self.allowed = path, allowed

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise RefusedGlobal(
                f"{self.path}: the pickle asks for {module}.{name}, which this data format never needs; refused "
                "(a pickle can name any function to run, so only known array-building globals are admitted)"
            ) from None


def load(path: str, allowed: dict = NUMPY_ARRAY):
    """The object pickled in ``path``, built with only the globals in ``allowed``
    (``{(module, name): object}``; numpy array reconstruction by default).
    Python 2 pickles are read with latin-1 strings, as numpy arrays need.

    Raises:
        RefusedGlobal: the file names any other global (nothing of it is run).
        ValueError: the file is not a readable pickle.
    """
    with open(path, "rb") as f:
        try:
            return _Restricted(f, path, allowed).load()
        except RefusedGlobal:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
            raise ValueError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from None
