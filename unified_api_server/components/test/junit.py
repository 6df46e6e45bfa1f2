"""Import of JUnit XML reports (pytest, Surefire, Gradle, Jest, Go, node, CTest) as one test run.

Runners agree on little beyond ``<testcase>`` and its ``<failure>``/``<error>``/``<skipped>``
children, so the report is walked as a tree: test cases may sit under ``<testsuites>`` itself
(node), under nested ``<testsuite>`` elements (node's ``describe``), or under a bare
``<testsuite>`` root (Surefire, Gradle, CTest).
"""

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from unified_api_server.core.component import Importer
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import parse_time
from unified_api_server.core.web.resources import cursor, state

MAX_SECONDS = 366 * 24 * 3600.0  # a suite's time beyond a year is an error, not a duration
MAX_DEPTH = 32  # suites nested deeper are hostile, not a test plan (and would exhaust the stack)
MAX_NAME = 512  # the step name, tag and metric name columns' length
MAX_MESSAGE = 65536  # the step message column's length
# Surefire 2.x wrote times over a thousand seconds with an English thousands separator.
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d*)?$")
# What a CTest ``status`` attribute says when the case has no failure or skipped child.
_STATUS_ATTRIBUTE = {
    "fail": "failed",
    "failed": "failed",
    "failure": "failed",
    "error": "error",
    "notrun": "skipped",
    "disabled": "skipped",
    "ignored": "skipped",
    "skipped": "skipped",
}


@dataclass
class _Report:
    steps: list = field(default_factory=list)
    properties: list = field(default_factory=list)
    starts: list = field(default_factory=list)


def _float(value):
    """Return ``value`` as a finite number, or None (absent, not a number, nan or infinite)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _seconds(value, where):
    """Return a ``time`` attribute in seconds (None when absent or empty), or raise a 400."""
    if value is None or not value.strip():
        return None
    number = _float(value.replace(",", "") if _THOUSANDS.match(value.strip()) else value)
    if number is None or not 0 <= number <= MAX_SECONDS:
        raise ApiError(
            400, f"{where} time: expected seconds from 0 to {MAX_SECONDS:g}, got {value!r}"
        )
    return number


def _clip(text, limit):
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _text(element):
    """Return the stripped text of ``element`` (None when absent or blank)."""
    if element is None:
        return None
    return (element.text or "").strip() or None


def _message(element):
    """Return an outcome element's message attribute and its text (a trace), as one message."""
    parts = [(element.get("message") or "").strip() or None, _text(element)]
    if element.find("stackTrace") is not None:  # Surefire's flaky and rerun elements
        parts.append(_text(element.find("stackTrace")))
    parts = [p for p in parts if p]
    # Gradle and pytest repeat the message inside the trace: keep the trace alone then.
    kept = [p for i, p in enumerate(parts) if not any(p in q for q in parts[i + 1 :])]
    return "\n\n".join(kept) or None


def _output(case):
    """Return what a case printed, which explains a failure that carries no message (CTest)."""
    return _text(case.find("system-err")) or _text(case.find("system-out"))


def _outcome(case):
    """Return ``(status, message)`` of a ``<testcase>``."""
    for tag, status in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        node = case.find(tag)
        if node is not None:
            message = _message(node)
            return status, message if message or status == "skipped" else _output(case)
    status = _STATUS_ATTRIBUTE.get((case.get("status") or "").lower())
    if status is not None:
        return status, _output(case)
    flaky = case.find("flakyFailure")
    if flaky is None:
        flaky = case.find("flakyError")
    if flaky is not None:  # Surefire: it failed, then passed when run again
        return "passed", f"passed on a rerun after: {_message(flaky)}"
    return "passed", None


def _step_name(case):
    """Return ``classname::name``, or the name alone when it starts with the classname."""
    classname, name = (case.get("classname") or "").strip(), (case.get("name") or "").strip()
    if not classname or name.startswith(classname):
        return name or "unnamed"
    return f"{classname}::{name}" if name else classname


def _step(case):
    """Return the step of a ``<testcase>``."""
    status, message = _outcome(case)
    name = _clip(_step_name(case), MAX_NAME)
    return {
        "name": name,
        "status": status,
        "duration": _seconds(case.get("time"), f"testcase {name!r}"),
        "message": _clip(message, MAX_MESSAGE),
    }


def _properties(element):
    node = element.find("properties")
    if node is None:
        return []
    return [
        (_clip(p.get("name"), MAX_NAME), _clip(p.get("value", p.text or ""), MAX_NAME))
        for p in node.findall("property")
        if p.get("name")
    ]


def _collect(element, report, depth=0):
    """Add the cases under ``element`` to ``report``; return ``element``'s time in seconds."""
    if depth > MAX_DEPTH:
        raise ApiError(400, f"testsuite elements nested deeper than {MAX_DEPTH}")
    report.properties += _properties(element)
    if element.get("timestamp"):
        report.starts.append(parse_time(element.get("timestamp"), "testsuite timestamp"))
    total = 0.0
    for child in element:
        if child.tag == "testsuite":
            total += _collect(child, report, depth + 1)
        elif child.tag == "testcase":
            step = _step(child)
            report.steps.append(step)
            # A test's own properties are named after it: two tests may record the same name.
            report.properties += [
                (_clip(f"{step['name']}::{n}", MAX_NAME), v) for n, v in _properties(child)
            ]
            total += step["duration"] or 0.0
    own = _seconds(element.get("time"), element.tag)
    return total if own is None else own


def _root(xml_bytes):
    """Return the root element of a JUnit report, or raise a 400 naming what is wrong."""
    try:
        root = ElementTree.fromstring(xml_bytes)
    except DefusedXmlException as exc:
        raise ApiError(400, f"XML refused: {exc}") from None
    except ElementTree.ParseError as exc:
        raise ApiError(400, f"not well-formed XML: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ApiError(
            400,
            f"not a JUnit report: root element is <{root.tag}>, expected "
            "<testsuites> or <testsuite>",
        )
    return root


def parse_report(xml_bytes):
    """Return ``(steps, properties, started_at, duration)`` from a JUnit XML report."""
    report = _Report()
    duration = _collect(_root(xml_bytes), report)
    started_at = min(report.starts) if report.starts else None
    return report.steps, report.properties, started_at, duration


def _metrics_and_tags(properties):
    """Split report properties: numbers become metrics, everything else tags."""
    metrics, tags = {}, {}
    for name, value in properties:
        number = _float(value)
        if number is not None:
            metrics[name] = {"name": name, "value": number}
        else:
            tags[name] = value
    return list(metrics.values()), tags


def _run_id(xml_bytes, identity):
    """Return the id a report gets from its bytes and the import's parameters.

    The same report imported again for the same model (hardware, test type, batch) is the same
    run, so a retried upload stores nothing new; any other report or parameter is a new run.
    """
    digest = hashlib.sha256(xml_bytes)
    digest.update(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS))
    return "junit-" + digest.hexdigest()[:32]


def _times(run_id, started_at, duration):
    """Return ``(started_at, completed_at)`` as ISO text; a run stored already keeps its own.

    A report without a timestamp starts when it is first imported; importing it again must
    give that same body, or it would read as other content for the same id.
    """
    if started_at is None:
        stored = state().reads.get(cursor(), run_id, children=False)
        if stored is not None:
            return stored["started_at"], stored["completed_at"]
        started_at = datetime.now(UTC)
    try:
        completed_at = started_at + timedelta(seconds=duration)
    except OverflowError:
        raise ApiError(400, "testsuite timestamp plus time falls after the year 9999") from None
    return started_at.isoformat(), completed_at.isoformat()


def run_from_report(xml_bytes, args):
    """Return the create-run body of a JUnit report, given the import's query parameters."""
    steps, properties, started_at, duration = parse_report(xml_bytes)
    metrics, tags = _metrics_and_tags(properties)
    counts = {
        status: sum(1 for s in steps if s["status"] == status)
        for status in ("passed", "failed", "skipped", "error")
    }
    # In any order and repeated, the same devices are the same run.
    hardware = sorted({h for value in args.getlist("hardware") for h in value.split(",") if h})
    identity = {
        "model_name": args["model_name"],
        "hardware": hardware or ["cpu"],
        "test_type": args.get("test_type") or "junit",
        "batch_id": args.get("batch_id") or None,
    }
    run_id = args.get("run_id") or _run_id(xml_bytes, identity)
    started, completed = _times(run_id, started_at, duration)
    return {
        **{k: v for k, v in identity.items() if v is not None},
        "run_id": run_id,
        "status": "failed" if counts["failed"] or counts["error"] else "completed",
        "progress": 1.0,
        "started_at": started,
        "completed_at": completed,
        "duration": duration,
        "results": {
            "tests_passed": counts["passed"],
            "tests_failed": counts["failed"],
            "tests_skipped": counts["skipped"],
            "tests_errors": counts["error"],
        },
        "steps": [{k: v for k, v in s.items() if v is not None} for s in steps],
        "metrics": metrics,
        "tags": tags,
    }


def runs_from_report(xml_bytes, args):
    """Return the one run a JUnit report makes (the importer's answer is that run)."""
    return [run_from_report(xml_bytes, args)]


JUNIT = Importer(
    format="junit",
    parse=runs_from_report,
    params=("model_name", "hardware", "test_type", "batch_id", "run_id"),
    required=("model_name",),
    single=True,
    description="a JUnit XML report",
)
