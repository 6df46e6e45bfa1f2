"""Import of JUnit XML reports (``pytest --junitxml`` and other runners) as one test run."""

import math
from datetime import UTC, datetime, timedelta

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from unified_api_server.core.component import Importer
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import parse_time


def _float(value):
    """Return ``value`` as a finite number, or None (absent, not a number, nan or infinite)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


MAX_SECONDS = 366 * 24 * 3600.0  # a suite's time beyond a year is an error, not a duration


def _seconds(value, where):
    """Return a suite's ``time`` attribute in seconds (0 when absent), or raise a 400."""
    if value is None:
        return 0.0
    number = _float(value)
    if number is None or not 0 <= number <= MAX_SECONDS:
        raise ApiError(
            400, f"{where} time: expected seconds from 0 to {MAX_SECONDS:g}, got {value!r}"
        )
    return number


def _properties(element):
    node = element.find("properties")
    return (
        []
        if node is None
        else [
            (p.get("name"), p.get("value", p.text))
            for p in node.findall("property")
            if p.get("name")
        ]
    )


def _case_status(case):
    for tag, status in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        node = case.find(tag)
        if node is not None:
            message = node.get("message") or (node.text or "").strip() or None
            return status, message
    return "passed", None


def parse_report(xml_bytes):
    """Return ``(steps, properties, started_at, duration)`` from a JUnit XML report."""
    try:
        root = ElementTree.fromstring(xml_bytes)
    except DefusedXmlException as exc:
        raise ApiError(400, f"XML refused: {exc}") from None
    except ElementTree.ParseError as exc:
        raise ApiError(400, f"not well-formed XML: {exc}") from None
    if root.tag == "testsuite":
        suites = [root]
    elif root.tag == "testsuites":
        suites = root.findall(".//testsuite")
    else:
        raise ApiError(
            400,
            f"not a JUnit report: root element is <{root.tag}>, expected "
            "<testsuites> or <testsuite>",
        )
    steps, properties, starts, duration = [], [], [], 0.0
    for suite in suites:
        properties += _properties(suite)
        if suite.get("timestamp"):
            starts.append(parse_time(suite.get("timestamp"), "testsuite timestamp"))
        duration += _seconds(suite.get("time"), "testsuite")
        for case in suite.findall("testcase"):
            status, message = _case_status(case)
            name = "::".join(filter(None, [case.get("classname"), case.get("name")]))
            steps.append(
                {
                    "name": name or "unnamed",
                    "status": status,
                    "duration": _float(case.get("time")),
                    "message": message,
                }
            )
            properties += _properties(case)
    return steps, properties, (min(starts) if starts else None), duration


def run_from_report(xml_bytes, args):
    """Return the create-run body of a JUnit report, given the import's query parameters."""
    steps, properties, started_at, duration = parse_report(xml_bytes)
    metrics, tags = [], {}
    for name, value in properties:
        number = _float(value)
        if number is not None:
            metrics.append({"name": name, "value": number})
        else:
            tags[name] = value
    counts = {
        status: sum(1 for s in steps if s["status"] == status)
        for status in ("passed", "failed", "skipped", "error")
    }
    started_at = started_at or datetime.now(UTC)
    try:
        completed_at = started_at + timedelta(seconds=duration)
    except OverflowError:
        raise ApiError(400, "testsuite timestamp plus time falls after the year 9999") from None
    hardware = [h for value in args.getlist("hardware") for h in value.split(",") if h]
    body = {
        "model_name": args["model_name"],
        "hardware": hardware or ["cpu"],
        "test_type": args.get("test_type") or "junit",
        "status": "failed" if counts["failed"] or counts["error"] else "completed",
        "progress": 1.0,
        "started_at": started_at.isoformat(),
        "completed_at": completed_at.isoformat(),
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
    for key in ("batch_id", "run_id"):
        if args.get(key):
            body[key] = args[key]
    return body


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
