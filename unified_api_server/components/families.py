"""Architecture families of Hugging Face models: detection from a name, tiny configs, inputs.

Shared by the generator (which template to render) and the benchmark (which workload to build).
Nothing here imports torch or transformers: the model itself is built in a job's child process.
"""

import re

from marshmallow import ValidationError, fields

# family -> (canonical template name, HF model types of that family, head-less Auto class)
FAMILIES = {
    "encoder-only": ("bert", ("bert", "roberta", "distilbert", "albert", "electra")),
    "decoder-only": ("gpt2", ("gpt2", "opt", "llama")),
    "encoder-decoder": ("t5", ("t5", "bart")),
    "vision": ("vit", ("vit", "deit")),
    "speech": ("whisper", ("whisper",)),
}
TEMPLATES = {canonical: family for family, (canonical, _) in FAMILIES.items()}

# Name fragments that identify a model type; the longest match wins ("distilbert" over "bert").
_ALIASES = {
    "xlm-roberta": "roberta",
    "camembert": "roberta",
    "deberta": "bert",
    "minilm": "bert",
    "gpt-2": "gpt2",
    "distilgpt2": "gpt2",
    "gpt-neo": "gpt2",
    "llama": "llama",
    "mistral": "llama",
    "qwen": "llama",
    "mt5": "t5",
    "flan-t5": "t5",
    "pegasus": "bart",
    "mbart": "bart",
    "beit": "vit",
    "dino": "vit",
    "whisper": "whisper",
}
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?$")

_TEXT = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=128
)
_SPECIAL_TOKENS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
_SEQ2SEQ = dict(
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    vocab_size=128,
    decoder_start_token_id=1,
    **_SPECIAL_TOKENS,
)
TINY_CONFIGS = {
    "bert": _TEXT,
    "roberta": _TEXT,
    "distilbert": _TEXT,
    "albert": _TEXT,
    "electra": _TEXT,
    "gpt2": dict(
        n_embd=32,
        n_layer=2,
        n_head=2,
        vocab_size=128,
        n_positions=64,
        bos_token_id=1,
        eos_token_id=2,
    ),
    "opt": dict(_TEXT, ffn_dim=64, word_embed_proj_dim=32, **_SPECIAL_TOKENS),
    "llama": dict(_TEXT, num_key_value_heads=2, **_SPECIAL_TOKENS),
    "t5": dict(
        d_model=32,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        d_kv=16,
        vocab_size=128,
        decoder_start_token_id=0,
    ),
    "bart": _SEQ2SEQ,
    "vit": dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    ),
    "whisper": dict(_SEQ2SEQ, num_mel_bins=16, max_source_positions=32, max_target_positions=32),
}
TINY_CONFIGS["deit"] = TINY_CONFIGS["vit"]


class UnknownFamily(ValueError):
    """The model's architecture family cannot be told from its name."""


def valid_model_name(name):
    """Tell whether ``name`` looks like a Hugging Face model id (``org/name`` or ``name``)."""
    return isinstance(name, str) and bool(_MODEL_NAME.match(name)) and ".." not in name


def model_type_of(model_name):
    """Return the HF model type a model name belongs to, or None."""
    base = model_name.lower().rsplit("/", 1)[-1]
    candidates = {t: t for _, types in FAMILIES.values() for t in types}
    candidates.update(_ALIASES)
    matches = [fragment for fragment in candidates if fragment in base]
    if not matches:
        return None
    return candidates[max(matches, key=len)]


def family_of(model_type):
    """Return the family of an HF model type."""
    for family, (_, types) in FAMILIES.items():
        if model_type in types:
            return family
    raise UnknownFamily(f"no family for model type {model_type!r}")


def resolve(model_name, template_type=None):
    """Return ``(family, template, model_type)`` for a model; ``template_type`` overrides."""
    model_type = model_type_of(model_name)
    if template_type:
        if template_type in TEMPLATES:
            family, template = TEMPLATES[template_type], template_type
        elif template_type in FAMILIES:
            family, template = template_type, FAMILIES[template_type][0]
        else:
            raise UnknownFamily(
                f"template_type {template_type!r} is unknown; use one of "
                f"{', '.join(sorted(TEMPLATES))} (or a family: {', '.join(FAMILIES)})"
            )
        if model_type is None or family_of(model_type) != family:
            model_type = FAMILIES[family][1][0]
        return family, template, model_type
    if model_type is None:
        raise UnknownFamily(
            f"cannot tell the architecture family of {model_name!r}; pass template_type, one of "
            f"{', '.join(sorted(TEMPLATES))}"
        )
    family = family_of(model_type)
    return family, FAMILIES[family][0], model_type


def sanitize(model_name):
    """Return a file-name-safe, lower-case form of a model name (``org/a-b`` -> ``org__a_b``)."""
    text = model_name.lower().replace("/", "__")
    text = re.sub(r"[^a-z0-9_]+", "_", text).strip("_")
    return text[:120] or "model"


MODEL_NAME_MESSAGE = (
    "must be a model id such as 'bert-base-uncased' or 'org/name' "
    "(letters, digits, '.', '_', '-', at most one '/'; no '..')"
)


def check_model_name(value):
    """Raise a marshmallow ValidationError unless ``value`` is a model id."""
    if not valid_model_name(value):
        raise ValidationError(MODEL_NAME_MESSAGE)


def check_model_names(values):
    """Raise a marshmallow ValidationError unless every one of ``values`` is a model id."""
    if not all(valid_model_name(value) for value in values):
        raise ValidationError(f"each {MODEL_NAME_MESSAGE}")


def model_name_field(**kwargs):
    """Return the marshmallow field of a model id, as every job request takes it."""
    return fields.String(validate=check_model_name, **kwargs)
