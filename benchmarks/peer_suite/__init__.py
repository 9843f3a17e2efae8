"""Issue 14's measure: peer AD test suites (autograd, micrograd, JAX) re-expressed as data.

``python -m benchmarks.peer_suite`` runs every item and writes
``benchmarks/results/peer_suite.md``; see :mod:`.items` and :mod:`.runner`.
"""
