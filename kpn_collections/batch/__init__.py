"""Batch conversion: discover specs, plan one job per spec, run the jobs, keep a cache."""
