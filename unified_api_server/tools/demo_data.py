"""The demo data set: deterministic test runs, generator tasks and benchmark runs.

The same seed and scale always give the same rows; times are laid out over the 60 days before the
anchor time (default: the current hour). :mod:`unified_api_server.tools.demo_loader` sends them through the API.
"""

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

# (model name, family, parameters in millions, CPU latency of one sample in ms)
MODELS = (
    ("bert-base-uncased", "encoder", 110, 18.0),
    ("bert-large-uncased", "encoder", 340, 52.0),
    ("distilbert-base-uncased", "encoder", 66, 9.5),
    ("roberta-base", "encoder", 125, 19.0),
    ("roberta-large", "encoder", 355, 55.0),
    ("albert-base-v2", "encoder", 12, 16.0),
    ("microsoft/deberta-v3-base", "encoder", 184, 27.0),
    ("google/electra-base-discriminator", "encoder", 110, 17.5),
    ("xlm-roberta-base", "encoder", 278, 24.0),
    ("sentence-transformers/all-MiniLM-L6-v2", "encoder", 23, 4.0),
    ("gpt2", "decoder", 124, 21.0),
    ("gpt2-medium", "decoder", 355, 58.0),
    ("gpt2-large", "decoder", 774, 120.0),
    ("distilgpt2", "decoder", 82, 11.0),
    ("facebook/opt-125m", "decoder", 125, 20.0),
    ("facebook/opt-350m", "decoder", 331, 55.0),
    ("EleutherAI/pythia-160m", "decoder", 160, 25.0),
    ("EleutherAI/gpt-neo-125m", "decoder", 125, 21.5),
    ("Qwen/Qwen2-0.5B", "decoder", 494, 80.0),
    ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "decoder", 1100, 170.0),
    ("microsoft/phi-2", "decoder", 2700, 410.0),
    ("meta-llama/Llama-2-7b-hf", "decoder", 6740, 1050.0),
    ("mistralai/Mistral-7B-v0.1", "decoder", 7240, 1100.0),
    ("t5-small", "encoder-decoder", 60, 14.0),
    ("t5-base", "encoder-decoder", 220, 38.0),
    ("t5-large", "encoder-decoder", 770, 125.0),
    ("google/flan-t5-base", "encoder-decoder", 250, 40.0),
    ("facebook/bart-base", "encoder-decoder", 140, 26.0),
    ("facebook/bart-large-cnn", "encoder-decoder", 406, 70.0),
    ("google/mt5-small", "encoder-decoder", 300, 35.0),
    ("Helsinki-NLP/opus-mt-en-de", "encoder-decoder", 74, 15.0),
    ("google/vit-base-patch16-224", "vision", 86, 24.0),
    ("microsoft/resnet-50", "vision", 26, 11.0),
    ("facebook/deit-base-patch16-224", "vision", 86, 23.0),
    ("microsoft/swin-tiny-patch4-window7-224", "vision", 28, 15.0),
    ("facebook/convnext-tiny-224", "vision", 29, 12.5),
    ("openai/clip-vit-base-patch32", "vision", 151, 20.0),
    ("facebook/detr-resnet-50", "vision", 41, 60.0),
    ("openai/whisper-tiny", "speech", 39, 45.0),
    ("openai/whisper-base", "speech", 74, 80.0),
    ("openai/whisper-small", "speech", 244, 230.0),
    ("facebook/wav2vec2-base-960h", "speech", 95, 38.0),
    ("facebook/hubert-base-ls960", "speech", 95, 40.0),
    ("microsoft/speecht5_asr", "speech", 155, 95.0),
)
# (device, speed-up over CPU, how often it appears)
HARDWARE = (
    ("cpu", 1.0, 30),
    ("cuda", 14.0, 30),
    ("rocm", 10.0, 8),
    ("mps", 5.0, 8),
    ("openvino", 2.2, 10),
    ("qnn", 3.0, 4),
    ("webgpu", 4.0, 6),
    ("webnn", 2.5, 4),
)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
PRECISIONS = (("fp32", 1.0, 4), ("fp16", 0.55, 2), ("int8", 0.4, 1))
TEST_TYPES = ("basic", "comprehensive", "fault_tolerance")
TEMPLATES = {
    "encoder": "bert",
    "decoder": "gpt2",
    "encoder-decoder": "t5",
    "vision": "vit",
    "speech": "whisper",
}
ARCHITECTURES = {
    "encoder": "encoder-only",
    "decoder": "decoder-only",
    "encoder-decoder": "encoder-decoder",
    "vision": "vision",
    "speech": "speech",
}
SCALES = {"tiny": 0.01, "small": 0.05, "medium": 0.25, "full": 1.0}
FULL = {"test": 3000, "generator": 1500, "benchmark": 100_000}
FAILURES = {
    "test": (
        "AssertionError: output logits differ from reference (max abs diff 3.2e-2)",
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "TimeoutError: model load exceeded 300 s",
    ),
    "generator": (
        "SyntaxError: invalid syntax in generated skeleton (line 42)",
        "KeyError: 'template_context' misses 'hidden_size'",
    ),
    "benchmark": (
        "RuntimeError: CUDA out of memory",
        "device lost during warm-up",
        "OSError: model weights not found in cache",
    ),
}


def _weighted(rng, options):
    return rng.choices([o[0] for o in options], weights=[o[-1] for o in options])[0]


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment):
    return moment.isoformat(timespec="milliseconds")


def _status(rng, started, anchor):
    if anchor - started < timedelta(minutes=30) and rng.random() < 0.5:
        return "running"
    roll = rng.random()
    if roll < 0.86:
        return "completed"
    if roll < 0.95:
        return "failed"
    return "cancelled" if roll < 0.98 else "timeout"


class DemoData:
    """The deterministic demo rows for a seed, scale and anchor time."""

    def __init__(self, seed=42, scale=1.0, anchor=None):
        self.seed = seed
        self.scale = scale
        self.anchor = anchor or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.sizes = {name: max(10, int(count * scale)) for name, count in FULL.items()}

    def _rng(self, part):
        return random.Random(f"{self.seed}:{part}")

    def _start(self, rng):
        # more recent activity than old: exponential ages, capped at 60 days
        age = min(rng.expovariate(1 / (14 * 86400)), 60 * 86400)
        return self.anchor - timedelta(seconds=age)

    def batches(self, component):
        """Return the batch bodies of ``component``."""
        rng = self._rng(f"batches:{component}")
        count = max(2, self.sizes[component] // 200)
        return [
            {
                "batch_id": _uuid(rng),
                "name": f"nightly-{component}-{index:03d}",
                "description": f"Nightly {component} sweep #{index}",
                "metadata": {"triggered_by": rng.choice(["ci", "nightly", "manual"])},
            }
            for index in range(count)
        ]

    def _pick_batch(self, rng, batches):
        return rng.choice(batches)["batch_id"] if rng.random() < 0.6 else None

    def test_runs(self):
        """Return (runs, steps by run id) of the Test Suite."""
        rng = self._rng("test")
        batches = self.batches("test")
        runs, steps = [], {}
        for _ in range(self.sizes["test"]):
            model, _family, params, _ = rng.choice(MODELS)
            started = self._start(rng)
            status = _status(rng, started, self.anchor)
            test_type = rng.choices(TEST_TYPES, weights=(6, 3, 1))[0]
            duration = rng.lognormvariate(math.log(20 + params / 20), 0.5) * (
                1 + TEST_TYPES.index(test_type)
            )
            total = {"basic": 12, "comprehensive": 48, "fault_tolerance": 20}[test_type]
            failed = 0 if status == "completed" else rng.randint(1, 4)
            skipped = rng.randint(0, 3)
            run = {
                "run_id": _uuid(rng),
                "model_name": model,
                "hardware": sorted(rng.sample([h[0] for h in HARDWARE], rng.randint(1, 2))),
                "status": status,
                "progress": 1.0 if status == "completed" else round(rng.random(), 2),
                "current_step": "done" if status == "completed" else "inference",
                "started_at": _iso(started),
                "test_type": test_type,
                "batch_id": self._pick_batch(rng, batches),
            }
            if status != "running":
                run.update(
                    completed_at=_iso(started + timedelta(seconds=duration)),
                    duration=round(duration, 3),
                    tests_passed=total - failed - skipped,
                    tests_failed=failed,
                    tests_skipped=skipped,
                    tests_errors=0,
                )
            if status in ("failed", "timeout"):
                run["error"] = rng.choice(FAILURES["test"])
            runs.append(run)
            steps[run["run_id"]] = self._steps(rng, started, duration, status)
        return runs, steps

    def _steps(self, rng, started, duration, status):
        names = ("load_model", "prepare_inputs", "inference", "compare_outputs", "teardown")
        cut = len(names) if status in ("completed", "running") else rng.randint(1, len(names))
        at, result = started, []
        for index, name in enumerate(names[:cut]):
            length = duration * rng.uniform(0.05, 0.4)
            last = index == cut - 1
            step_status = "completed"
            if last and status == "running":
                step_status = "running"
            elif last and status != "completed":
                step_status = "failed"
            result.append(
                {
                    "name": name,
                    "status": step_status,
                    "started_at": _iso(at),
                    "completed_at": _iso(at + timedelta(seconds=length)),
                    "duration": round(length, 3),
                }
            )
            at += timedelta(seconds=length)
        return result

    def generator_tasks(self):
        """Return the Generator's task rows."""
        rng = self._rng("generator")
        batches = self.batches("generator")
        tasks = []
        for _ in range(self.sizes["generator"]):
            model, family, _params, _ = rng.choice(MODELS)
            started = self._start(rng)
            status = _status(rng, started, self.anchor)
            duration = rng.lognormvariate(math.log(2.5), 0.6)
            task = {
                "task_id": _uuid(rng),
                "model_name": model,
                "hardware": sorted(rng.sample([h[0] for h in HARDWARE[:5]], rng.randint(1, 3))),
                "status": status,
                "progress": 1.0 if status == "completed" else round(rng.random(), 2),
                "started_at": _iso(started),
                "template_type": TEMPLATES[family],
                "architecture": "vision-text" if "clip" in model else ARCHITECTURES[family],
                "batch_id": self._pick_batch(rng, batches),
            }
            if status != "running":
                task.update(
                    completed_at=_iso(started + timedelta(seconds=duration)),
                    duration=round(duration, 3),
                )
            if status == "completed":
                stem = model.replace("/", "__")
                task["output_file"] = f"generated/{stem}_{task['task_id'][:8]}.py"
            if status in ("failed", "timeout"):
                task["error"] = rng.choice(FAILURES["generator"])
            tasks.append(task)
        return tasks

    def benchmark_runs(self):
        """Yield the Benchmark's run rows (lognormal latency per model, device and batch size)."""
        rng = self._rng("benchmark")
        batches = self.batches("benchmark")
        speed = {h[0]: h[1] for h in HARDWARE}
        precision_factor = {p[0]: p[1] for p in PRECISIONS}
        for _ in range(self.sizes["benchmark"]):
            model, family, params, cpu_ms = rng.choice(MODELS)
            device = _weighted(rng, HARDWARE)
            batch_size = rng.choice(BATCH_SIZES)
            precision = _weighted(rng, PRECISIONS) if device != "cpu" else "fp32"
            started = self._start(rng)
            status = _status(rng, started, self.anchor)
            if device == "cuda" and params > 2000 and batch_size >= 32 and rng.random() < 0.5:
                status = "failed"  # large models run out of memory at large batches
            median = cpu_ms / speed[device] * precision_factor[precision] * batch_size**0.8
            latency = rng.lognormvariate(math.log(median), 0.18)
            row = {
                "run_id": _uuid(rng),
                "model_name": model,
                "hardware": device,
                "batch_size": batch_size,
                "precision": precision,
                "parameters": {
                    "sequence_length": 128 if family != "vision" else 224,
                    "iterations": 100,
                    "warmup": 10,
                },
                "status": status,
                "started_at": _iso(started),
                "batch_id": self._pick_batch(rng, batches),
            }
            if status == "completed":
                iterations = 100
                row.update(
                    completed_at=_iso(started + timedelta(milliseconds=latency * iterations)),
                    duration=round(latency * iterations / 1000, 3),
                    latency_ms_mean=round(latency, 3),
                    latency_ms_p50=round(latency * rng.uniform(0.95, 1.0), 3),
                    latency_ms_p90=round(latency * rng.uniform(1.1, 1.3), 3),
                    latency_ms_p99=round(latency * rng.uniform(1.4, 2.2), 3),
                    throughput=round(batch_size * 1000 / latency, 3),
                    memory_mb=round(
                        params * 4 * precision_factor[precision] + batch_size * rng.uniform(8, 40),
                        1,
                    ),
                )
            elif status != "running":
                row["error"] = rng.choice(FAILURES["benchmark"])
            yield row

    def expected_counts(self, model_name):
        """Return how many test runs, generator tasks and benchmark runs name ``model_name``."""
        runs, _ = self.test_runs()
        return {
            "test": sum(r["model_name"] == model_name for r in runs),
            "generator": sum(t["model_name"] == model_name for t in self.generator_tasks()),
            "benchmark": sum(b["model_name"] == model_name for b in self.benchmark_runs()),
        }
