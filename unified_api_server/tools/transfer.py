"""``unified-api-server upload ...`` and ``export``: a CI pipeline's results in one command.

Both speak to a running gateway through :mod:`unified_api_server.client`; ``--url`` and
``--key`` default to ``$UAS_URL`` and ``$UAS_API_KEY``, so a key never has to appear on a command
line. A command prints one line saying what was stored or written, and a failure is the
server's message on stderr with exit status 1, never a traceback.
"""

import csv
import os

import click

from unified_api_server.client import Client, ClientError
from unified_api_server.core.data.export import FORMATS
from unified_api_server.registry import BY_NAME, NAMES


def _connection(command):
    """Add ``--url``/``--key`` (from $UAS_URL/$UAS_API_KEY) and ``--timeout`` to ``command``."""
    options = (
        click.option(
            "--url", envvar="UAS_URL", required=True, show_envvar=True, help="Gateway URL."
        ),
        click.option("--key", envvar="UAS_API_KEY", show_envvar=True, help="API key."),
        click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _call(action):
    """Return ``action()``; a ClientError becomes ``Error: <server's message>`` and status 1."""
    try:
        return action()
    except ClientError as exc:
        details = f" {exc.details}" if exc.details not in (None, {}, []) else ""
        raise click.ClickException(f"{exc}{details}") from None


@click.group("upload")
def upload():
    """Upload a test or benchmark report to the gateway."""


@upload.command("junit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", required=True, help="Model the tests ran against (model_name).")
@click.option("--hardware", help="Device(s) it ran on, comma-separated (default cpu).")
@click.option("--test-type", help="Kind of tests (default junit).")
@click.option("--run-id", help="Client id: uploading the same report twice stores it once.")
@click.option("--batch-id", help="Batch the run belongs to.")
@_connection
def upload_junit(file, model, hardware, test_type, run_id, batch_id, url, key, timeout):
    """Store a JUnit XML report (pytest --junitxml) as one test run."""
    with Client(url, key, timeout) as client:
        run = _call(
            lambda: client.upload_junit(
                file, model, hardware, test_type, run_id=run_id, batch_id=batch_id
            )
        )
    counts = ", ".join(
        f"{run.get('results', {}).get(f'tests_{word}', 0)} {word}"
        for word in ("passed", "failed", "skipped", "errors")
    )
    click.echo(f"test run {run['run_id']} ({run['status']}): {counts}")


@upload.command("pytest-benchmark")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", help="Model benchmarked (default: each benchmark's name).")
@click.option("--hardware", help="Device it ran on (default cpu).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Items per call (default 1).")
@click.option("--precision", help="fp32, fp16, ... (default fp32).")
@click.option("--batch-id", help="Batch the runs belong to.")
@_connection
def upload_pytest_benchmark(file, model, hardware, batch_size, precision, batch_id, **connection):
    """Store a pytest --benchmark-json report as one benchmark run per benchmark."""
    url, key, timeout = connection["url"], connection["key"], connection["timeout"]
    with Client(url, key, timeout) as client:
        answer = _call(
            lambda: client.upload_pytest_benchmark(
                file, model, hardware, batch_size=batch_size, precision=precision,
                batch_id=batch_id,
            )
        )  # fmt: skip
    benchmark = BY_NAME["benchmark"]
    ids = ", ".join(run[benchmark.id_column] for run in answer[benchmark.entities])
    click.echo(f"{answer['count']} benchmark runs ({answer['created']} new): {ids}")


def _filters(pairs):
    """Return ``--filter key=value`` pairs as query parameters (a key may repeat)."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--filter")
        params.setdefault(name, []).append(value)
    return params


def count_rows(path, fmt):
    """Return the rows an export file holds (None for JSON, which would have to be read whole)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "json":
        return None
    with open(path, encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
        return sum(1 for line in handle if line.strip())


@click.command("export")
@click.argument("component", type=click.Choice(NAMES))
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="csv", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Repeatable.")
@_connection
def export(component, fmt, output, filters, url, key, timeout):
    """Stream a component's items (or --filter table=steps, ...) into a file."""
    params = _filters(filters)
    partial = f"{output}.part"  # the file appears only once the export is whole
    try:
        with Client(url, key, timeout) as client, open(partial, "wb") as handle:
            written = _call(lambda: client.export(component, fmt, handle, **params))
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    rows = count_rows(output, fmt)
    what = f"{rows} rows, " if rows is not None else ""
    click.echo(f"wrote {what}{written} bytes to {output}")
