"""Side-by-side benchmarks of graphad against the systems a user would pick instead.

Run ``python -m benchmarks.run [--quick]``; see ``benchmarks/README.md``.
"""
