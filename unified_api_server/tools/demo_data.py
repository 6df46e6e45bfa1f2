"""The demo data set: deterministic rows for every registered component.

The same seed and scale always give the same rows; times are laid out over the 60 days before
the anchor time (default: the current hour). Every component gets batches and items whose
common columns (model, status, times, batch) come from here; a component's own ``demo``
(:class:`~unified_api_server.core.component.Demo`) fills its own columns and children, and
says how many items a full data set has. :mod:`.demo_loader` sends the rows through the API.
"""

import random
import uuid
from collections import namedtuple
from datetime import UTC, datetime, timedelta

from unified_api_server.core.component import Demo

Model = namedtuple("Model", "name family params cpu_ms")
# (model name, family, parameters in millions, CPU latency of one sample in ms)
MODELS = tuple(
    Model(*row)
    for row in (
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
SCALES = {"tiny": 0.01, "small": 0.05, "medium": 0.25, "full": 1.0}
GENERIC = Demo(size=1000)  # a component without a demo of its own: common columns only


def iso(moment):
    """Return ``moment`` as ISO 8601 with milliseconds and offset."""
    return moment.isoformat(timespec="milliseconds")


class DemoItem:
    """One item being made: its random source, model, start, status and helpers for a filler."""

    def __init__(self, rng, model, started, status):
        self.rng = rng
        self.model = model
        self.started = started
        self.status = status

    def devices(self, least, most, pool=HARDWARE):
        """Return ``least``..``most`` distinct device names, sorted."""
        names = [device[0] for device in pool]
        return sorted(self.rng.sample(names, self.rng.randint(least, most)))

    def device(self):
        """Return one device name, the common ones more often."""
        return self.weighted(HARDWARE)

    @staticmethod
    def speedup(device):
        """Return how many times faster than the CPU ``device`` runs the demo's models."""
        return next(speed for name, speed, _ in HARDWARE if name == device)

    def weighted(self, options):
        """Return the name of one of ``options`` (name, ..., weight)."""
        return self.rng.choices([o[0] for o in options], weights=[o[-1] for o in options])[0]

    def ended(self, seconds):
        """Return the end time ``seconds`` after the start, as text."""
        return iso(self.started + timedelta(seconds=seconds))


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

    def _rng(self, part):
        return random.Random(f"{self.seed}:{part}")

    def size(self, component):
        """Return how many items of ``component`` the data set holds."""
        return max(10, int((component.demo or GENERIC).size * self.scale))

    def batches(self, component):
        """Return the batch bodies of ``component``."""
        rng = self._rng(f"batches:{component.name}")
        return [
            {
                "batch_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "name": f"nightly-{component.name}-{index:03d}",
                "description": f"Nightly {component.name} sweep #{index}",
                "metadata": {"triggered_by": rng.choice(["ci", "nightly", "manual"])},
            }
            for index in range(max(2, self.size(component) // 200))
        ]

    def items(self, component):
        """Yield ``(row, children)`` for every item of ``component``."""
        rng = self._rng(component.name)
        batch_ids = [b["batch_id"] for b in self.batches(component)]
        fill = (component.demo or GENERIC).fill
        for _ in range(self.size(component)):
            model = rng.choice(MODELS)
            # more recent activity than old: exponential ages, capped at 60 days
            age = min(rng.expovariate(1 / (14 * 86400)), 60 * 86400)
            started = self.anchor - timedelta(seconds=age)
            item = DemoItem(rng, model, started, _status(rng, started, self.anchor))
            row = {
                component.id_column: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "model_name": model.name,
                "status": item.status,
                "started_at": iso(started),
                "batch_id": rng.choice(batch_ids) if rng.random() < 0.6 else None,
            }
            extra, children = fill(item) if fill else ({}, {})
            yield {**row, **extra}, children

    def expected_count(self, component, model_name):
        """Return how many items of ``component`` name ``model_name``."""
        return sum(row["model_name"] == model_name for row, _ in self.items(component))
