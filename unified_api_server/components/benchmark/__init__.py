"""Benchmark API: latency, throughput and memory of models on hardware, with their metrics."""
