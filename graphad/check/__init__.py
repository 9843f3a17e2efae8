"""The gradient checker: AD against finite differences and SymPy, per input and per node.

``gradcheck`` holds the public entry points, ``fd`` the finite differences and the
per-node localization, ``report`` the text and HTML of a report.
"""

from .gradcheck import (
    GradCheckReport,
    assert_grad,
    check_grad,
    default_tolerances,
    fd_derivative,
    localize,
)

__all__ = [
    "GradCheckReport",
    "assert_grad",
    "check_grad",
    "default_tolerances",
    "fd_derivative",
    "localize",
]
