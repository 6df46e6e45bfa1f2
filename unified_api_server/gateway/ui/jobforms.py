"""The jobs page's forms: what each component's job takes, and the form turned into its body."""

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
TEST_TYPES = ("basic", "comprehensive", "fault_tolerance")

FORMS = {
    "generator": {"path": "/model", "title": "Generate a test module"},
    "test": {"path": "/run", "title": "Run a model's tests"},
    "benchmark": {"path": "/run", "title": "Benchmark a model"},
}


def _list(text):
    return [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]


def _ints(text, name):
    try:
        return [int(part) for part in _list(text)], None
    except ValueError:
        return None, f"{name}: whole numbers separated by commas"


def payload(component, form):
    """Return ``(body, problem)``: the job's JSON body from ``form``, or what is wrong with it."""
    model_name = (form.get("model_name") or "").strip()
    hardware = _list(form.get("hardware")) or ["cpu"]
    if not model_name:
        return None, "model name: required"
    if component == "generator":
        return {"model_name": model_name, "hardware": hardware, "force": "force" in form}, None
    if component == "test":
        test_type = form.get("test_type") or "basic"
        if test_type not in TEST_TYPES:
            return None, f"test type: one of {', '.join(TEST_TYPES)}"
        return {"model_name": model_name, "hardware": hardware, "test_type": test_type}, None
    batch_sizes, problem = _ints(form.get("batch_sizes") or "1", "batch sizes")
    if problem:
        return None, problem
    precision = form.get("precision") or "fp32"
    if precision not in PRECISIONS:
        return None, f"precision: one of {', '.join(PRECISIONS)}"
    body = {
        "models": [model_name],
        "hardware": hardware,
        "batch_sizes": batch_sizes,
        "precision": precision,
        "model_size": "tiny" if "tiny" in form else "default",
    }
    return body, None
