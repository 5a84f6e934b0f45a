"""Side-by-side benchmarks of segframe against FLAML and tuned baselines.

Not part of the test suite; run ``python -m benchmarks.compare --help``.
"""
