"""Benchmarks: step time against FLOPs (``fdiff bench``), the prepared GPU run, the loader's
throughput."""
