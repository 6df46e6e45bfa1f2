"""The Generator's part of the demo data set: tasks with their template, family and file."""

import math

from unified_api_server.core.component import Demo

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
FAILURES = (
    "SyntaxError: invalid syntax in generated skeleton (line 42)",
    "KeyError: 'template_context' misses 'hidden_size'",
)
# The devices a generated module is written for (the first five of the demo's devices).
TARGETS = (("cpu", 1), ("cuda", 1), ("rocm", 1), ("mps", 1), ("openvino", 1))


def fill(item):
    """Return a demo task's own columns."""
    rng, status, model = item.rng, item.status, item.model
    duration = rng.lognormvariate(math.log(2.5), 0.6)
    row = {
        "hardware": item.devices(1, 3, TARGETS),
        "progress": 1.0 if status == "completed" else round(rng.random(), 2),
        "template_type": TEMPLATES[model.family],
        "architecture": "vision-text" if "clip" in model.name else ARCHITECTURES[model.family],
    }
    if status != "running":
        row.update(completed_at=item.ended(duration), duration=round(duration, 3))
    if status == "completed":
        row["output_file"] = f"generated/{model.name.replace('/', '__')}.py"
    if status in ("failed", "timeout"):
        row["error"] = rng.choice(FAILURES)
    return row, {}


DEMO = Demo(size=1500, fill=fill)
