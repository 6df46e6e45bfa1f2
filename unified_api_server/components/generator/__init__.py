"""Generator: code-generation tasks (template, architecture family, output file); writes a
model's test module from its family's template.

Tables (by the core's naming convention): generator_tasks, generator_batch_tasks, and the
children generator_task_steps, generator_task_metrics, generator_task_tags.
"""

from unified_api_server.components.generator.demo import DEMO
from unified_api_server.components.generator.jobs import GeneratorJobs
from unified_api_server.core import component as core

# Architecture families of the models the generator has templates for (bert, gpt2, t5, vit,
# whisper, ...); a closed list so that statistics per family do not split on spelling.
ARCHITECTURES = (
    "encoder-only",
    "decoder-only",
    "encoder-decoder",
    "vision",
    "vision-text",
    "speech",
    "audio",
    "multimodal",
    "diffusion",
    "mixture-of-experts",
    "state-space",
    "other",
)

COMPONENT = core.Component(
    name="generator",
    title="Generator API",
    entity="task",
    entities="tasks",
    default_port=8001,
    demo=DEMO,
    jobs=GeneratorJobs,
    children=(
        core.step_child("generator_task_steps"),
        core.metric_child("generator_task_metrics"),
        core.tag_child("generator_task_tags"),
    ),
    columns=core.common_columns()
    + (
        core.Column("template_type", filter=True, search=True, max_length=64),
        core.Column("architecture", filter=True, search=True, choices=ARCHITECTURES),
        core.Column("output_file", patch=True, max_length=4096),
    ),
)
