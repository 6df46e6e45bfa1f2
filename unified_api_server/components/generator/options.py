"""What a generation request may ask for: its body, its template context, its output folder.

Files are written only inside the configured output folder: model names are validated and
sanitised into file names, and ``output_dir`` may only name a sub-folder of that folder.
"""

import os
import re

from marshmallow import Schema, ValidationError, fields, validate, validates

from unified_api_server.components import families

CONTEXT_DEFAULTS = {
    "sequence_length": 8,
    "batch_size": 2,
    "batch_sizes": [1, 2],
    "config": {},
    "description": "",
}
_SUB_FOLDER = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")


class _Options(Schema):
    hardware = fields.Raw(load_default=None)
    output_dir = fields.String(load_default=None, validate=validate.Length(max=200))
    force = fields.Boolean(load_default=False)
    template_type = fields.String(load_default=None)
    template_context = fields.Dict(load_default=dict)
    fix_syntax = fields.Boolean(load_default=True)


class ModelSchema(_Options):
    """The body of ``POST /api/generator/model``."""

    model_name = families.model_name_field(required=True)


class BatchSchema(_Options):
    """The body of ``POST /api/generator/batch``."""

    model_names = fields.List(
        families.model_name_field(), required=True, validate=validate.Length(min=1, max=100)
    )

    @validates("model_names")
    def _distinct(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("names must be distinct")


def check_context(context):
    """Validate ``template_context``; return it with defaults filled in."""
    unknown = sorted(set(context) - set(CONTEXT_DEFAULTS))
    errors = {}
    if unknown:
        errors["_unknown"] = [
            f"unknown key(s) {', '.join(unknown)}; use {', '.join(CONTEXT_DEFAULTS)}"
        ]
    merged = {**CONTEXT_DEFAULTS, **context}
    for key, top in (("sequence_length", 512), ("batch_size", 64)):
        value = merged[key]
        if type(value) is not int or not 1 <= value <= top:
            errors[key] = [f"must be an integer 1..{top}"]
    sizes = merged["batch_sizes"]
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(type(b) is int and 1 <= b <= 64 for b in sizes)
    ):
        errors["batch_sizes"] = ["must be a list of integers 1..64"]
    config = merged["config"]
    if not isinstance(config, dict) or not all(
        isinstance(v, (int, float, str, bool)) and k.isidentifier() for k, v in config.items()
    ):
        errors["config"] = ["must map configuration names to numbers, strings or booleans"]
    if not isinstance(merged["description"], str) or len(merged["description"]) > 2000:
        errors["description"] = ["must be text of at most 2000 characters"]
    if errors:
        raise ValidationError({"template_context": errors})
    return merged


def inside(root, path):
    """Tell whether ``path`` is ``root`` or lies inside it, links resolved."""
    top = os.path.realpath(root)
    return os.path.commonpath([top, os.path.realpath(path)]) == top


def target_folder(root, output_dir):
    """Return the folder to write into: ``root`` or a sub-folder of it named by ``output_dir``."""
    if not output_dir:
        return root
    parts = [p for p in output_dir.replace("\\", "/").split("/") if p not in ("", ".")]
    if (
        output_dir.startswith(("/", "\\", "~"))
        or not parts
        or any(p == ".." or not _SUB_FOLDER.match(p) for p in parts)
    ):
        raise ValidationError(
            {
                "output_dir": [
                    "must be a relative sub-folder of the output folder (letters, digits, '.', "
                    "'_', '-' and '/'; no '..', no absolute path)"
                ]
            }
        )
    folder = os.path.realpath(os.path.join(root, *filter(None, parts)))
    if not inside(root, folder):
        raise ValidationError({"output_dir": ["escapes the output folder"]})
    return folder
