"""Real data that only the benchmarks read (not part of the biozoo package)."""
