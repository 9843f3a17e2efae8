"""What kind of array a value is, asked without importing the libraries it may come from.

The one place graphad decides whether a value is a Dask collection or another
library's array reached through NumPy's dispatch; every layer asks here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .expr import Expr

__all__ = ["is_dask", "is_duck_array"]


def is_dask(value: Any) -> bool:
    """True for a Dask collection (``dask.array.Array``, ``Delayed`` ...), without importing Dask.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    bool
        Whether ``value``'s type has Dask's collection protocol (``__dask_graph__``).

    Examples
    --------
    >>> import numpy as np
    >>> from graphad.core.arrays import is_dask
    >>> is_dask(np.ones(3)), is_dask([1.0])
    (False, False)
    >>> import dask.array as da
    >>> is_dask(da.ones(3))
    True
    """
    return hasattr(type(value), "__dask_graph__")


def is_duck_array(value: Any) -> bool:
    """Another library's array that NumPy's functions dispatch to (a Dask array), not an ndarray.

    Examples
    --------
    >>> import numpy as np
    >>> from graphad.core.arrays import is_duck_array
    >>> import graphad as ga
    >>> is_duck_array(np.ones(3)), is_duck_array(2.0), is_duck_array(ga.symbol("x"))
    (False, False, False)
    """
    return (
        hasattr(value, "__array_function__")
        and hasattr(value, "dtype")
        and not isinstance(value, np.ndarray | Expr)  # Expr dispatches NumPy to the op table
    )
