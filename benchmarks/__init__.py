"""jaxl2 benchmarks: ``python -m benchmarks [name ...] [--quick]`` writes benchmarks/RESULTS.md."""
