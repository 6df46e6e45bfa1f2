"""The Benchmark's part of the demo data set: lognormal latency by model, device, batch size."""

import math

from unified_api_server.core.component import Demo

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
PRECISIONS = (("fp32", 1.0, 4), ("fp16", 0.55, 2), ("int8", 0.4, 1))
FAILURES = (
    "RuntimeError: CUDA out of memory",
    "device lost during warm-up",
    "OSError: model weights not found in cache",
)
ITERATIONS = 100


def fill(item):
    """Return a demo run's configuration and, when it completed, its figures."""
    rng, model = item.rng, item.model
    device = item.device()
    batch_size = rng.choice(BATCH_SIZES)
    precision = item.weighted(PRECISIONS) if device != "cpu" else "fp32"
    status = item.status
    if device == "cuda" and model.params > 2000 and batch_size >= 32 and rng.random() < 0.5:
        status = "failed"  # large models run out of memory at large batches
    factor = {name: factor for name, factor, _ in PRECISIONS}[precision]
    median = model.cpu_ms / item.speedup(device) * factor * batch_size**0.8
    latency = rng.lognormvariate(math.log(median), 0.18)
    row = {
        "hardware": device,
        "batch_size": batch_size,
        "precision": precision,
        "status": status,
        "parameters": {
            "sequence_length": 128 if model.family != "vision" else 224,
            "iterations": ITERATIONS,
            "warmup": 10,
        },
    }
    if status == "completed":
        row.update(
            completed_at=item.ended(latency * ITERATIONS / 1000),
            duration=round(latency * ITERATIONS / 1000, 3),
            latency_ms_mean=round(latency, 3),
            latency_ms_p50=round(latency * rng.uniform(0.95, 1.0), 3),
            latency_ms_p90=round(latency * rng.uniform(1.1, 1.3), 3),
            latency_ms_p99=round(latency * rng.uniform(1.4, 2.2), 3),
            throughput=round(batch_size * 1000 / latency, 3),
            memory_mb=round(model.params * 4 * factor + batch_size * rng.uniform(8, 40), 1),
        )
    elif status != "running":
        row["error"] = rng.choice(FAILURES)
    return row, {}


DEMO = Demo(size=100_000, fill=fill)
