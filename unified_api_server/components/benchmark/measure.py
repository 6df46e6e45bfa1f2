"""Measure one model x device x batch size x precision (the benchmark job's child process).

The workload is a real PyTorch model built by transformers from a Hugging Face configuration with
random weights (nothing is downloaded): the family's default (full-size) configuration, or the tiny
one for quick checks. Warm-up passes, then timed passes, each synchronised on the device; the
parent stores the figures as the run's columns and metrics.
"""

import json
import os
import platform
import resource
import statistics
import sys
import time

from unified_api_server.components.benchmark.figures import percentile
from unified_api_server.core.jobs.child import fail, report, watch_parent

INSTALL = (
    "PyTorch and transformers are not installed in the benchmark service's environment: "
    "pip install -e '.[torch]' (or: pip install torch==2.13.0 transformers)"
)
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64"}


def make_inputs(torch, config, family, batch_size, length, device, dtype):
    """Return the forward arguments of a model of ``family``."""
    if family == "vision":
        size = config.image_size
        return {
            "pixel_values": torch.randn(
                batch_size, config.num_channels, size, size, device=device, dtype=dtype
            )
        }
    if family == "speech":
        features = torch.randn(
            batch_size,
            config.num_mel_bins,
            2 * config.max_source_positions,
            device=device,
            dtype=dtype,
        )
        start = torch.full((batch_size, 2), config.decoder_start_token_id, device=device)
        return {"input_features": features, "decoder_input_ids": start}
    ids = torch.randint(3, config.vocab_size, (batch_size, length), device=device)
    if family == "encoder-decoder":
        return {"input_ids": ids, "decoder_input_ids": ids[:, : max(1, length // 2)]}
    return {"input_ids": ids}


def _device(torch, name):
    if name == "cuda" and not torch.cuda.is_available():
        fail(
            "cuda: no CUDA device is available on this machine (torch.cuda.is_available() is "
            "false); benchmark on cpu instead"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        fail("mps: no Apple MPS device is available on this machine")
    return torch.device(name)


def _sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _build(torch, spec, device, dtype):
    """Build the model from its configuration (random weights); return it and the seconds."""
    from transformers import AutoConfig, AutoModel

    report("progress", progress=0.05, current_step="building the model")
    started = time.perf_counter()
    config = AutoConfig.for_model(spec["model_type"], **spec["config"])
    model = AutoModel.from_config(config).eval().to(device=device, dtype=dtype)
    return config, model, time.perf_counter() - started


def _time_passes(torch, model, inputs, device, warmup, iterations):
    """Run the warm-up and timed passes, each synchronised; return the timed latencies (ms)."""
    latencies, total = [], warmup + iterations
    with torch.inference_mode():
        for index in range(total):
            _sync(torch, device)
            began = time.perf_counter()
            model(**inputs)
            _sync(torch, device)
            if index >= warmup:
                latencies.append((time.perf_counter() - began) * 1000.0)
            if index % max(1, total // 20) == 0 or index == total - 1:
                phase, number, of = (
                    ("warm-up", index + 1, warmup)
                    if index < warmup
                    else ("iteration", index - warmup + 1, iterations)
                )
                report(
                    "progress",
                    progress=0.1 + 0.9 * (index + 1) / total,
                    current_step=f"{phase} {number}/{of}",
                )
    return latencies


def _report_figures(torch, spec, device, model, latencies, build_s):
    """Send the run's headline figures and its metrics, model metrics and hardware metrics."""
    mean = statistics.fmean(latencies)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
    items_per_s = spec["batch_size"] / (mean / 1000.0)
    quantiles = {f"latency_ms_p{q}": percentile(latencies, q / 100) for q in (50, 90, 99)}
    figures = {"latency_ms_mean": mean, **quantiles}
    report("update", changes={**figures, "throughput": items_per_s, "memory_mb": peak_mb})
    parameters = sum(p.numel() for p in model.parameters())
    for key, metrics in (
        (
            "metrics",
            {
                "latency_ms_min": (min(latencies), "ms"),
                "latency_ms_max": (max(latencies), "ms"),
                "latency_ms_stddev": (statistics.pstdev(latencies), "ms"),
                "throughput": (items_per_s, "items/s"),
                "memory_mb": (peak_mb, "MB"),
                "model_build_s": (build_s, "s"),
            },
        ),
        (
            "model_metrics",
            {
                "parameters": (parameters, "count"),
                "parameter_mb": (parameters * model.dtype.itemsize / 2**20, "MB"),
                "sequence_length": (spec["sequence_length"], "tokens"),
            },
        ),
        (
            "hardware_metrics",
            {
                "torch_threads": (torch.get_num_threads(), "threads"),
                "cpu_count": (os.cpu_count() or 0, "cores"),
            },
        ),
    ):
        rows = {name: {"value": value, "unit": unit} for name, (value, unit) in metrics.items()}
        report("metrics", key=key, metrics=rows)
    return mean


def main(argv=None):
    """Build the model, warm up, time the iterations and report the figures."""
    watch_parent()
    spec = json.loads((argv or sys.argv[1:])[0])
    report("progress", progress=0.0, current_step="importing torch")
    try:
        import torch
        import transformers  # noqa: F401 - fail here, with the install line, when it is missing
    except ImportError:
        fail(INSTALL)
    device = _device(torch, spec["hardware"])
    if spec["precision"] not in DTYPES:
        fail(f"precision {spec['precision']!r} cannot be measured here; use {', '.join(DTYPES)}")
    dtype = getattr(torch, DTYPES[spec["precision"]])
    torch.manual_seed(0)
    config, model, build_s = _build(torch, spec, device, dtype)
    inputs = make_inputs(
        torch, config, spec["family"], spec["batch_size"], spec["sequence_length"], device, dtype
    )
    latencies = _time_passes(torch, model, inputs, device, spec["warmup"], spec["iterations"])
    mean = _report_figures(torch, spec, device, model, latencies, build_s)
    report("result", changes={})
    print(
        f"{spec['model_name']} {spec['hardware']} bs={spec['batch_size']} {spec['precision']}: "
        f"{mean:.3f} ms mean on {platform.processor() or platform.machine()}"
    )


if __name__ == "__main__":
    main()
