"""What the schema fuzzer sends: hypothesis strategies for values, bodies, queries and headers.

Values are drawn per column kind from the component schemas (so bodies use the real field names),
plus free-form JSON, NDJSON, XML and pytest-benchmark reports for the importers, raw bytes, and
the boundary cases every run sends (``null``, ``nan``, times at the edge of what UTC holds).
"""

import json
from dataclasses import dataclass
from datetime import timedelta, timezone
from functools import cached_property
from urllib.parse import quote

from hypothesis import strategies as st

from unified_api_server.core.schemas import (
    BatchSchema,
    child_row_schema,
    create_schema,
    patch_schema,
)
from unified_api_server.core.web.args import filter_names
from unified_api_server.core.web.reports import TEXT_FIELDS
from unified_api_server.gateway.views import ModelViewSchema, SearchSchema
from unified_api_server.registry import COMPONENTS

OTHER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "PURGE")
QUERY_NAMES = ("limit", "cursor", "days", "path", "id", "model", *TEXT_FIELDS)


# -- values ------------------------------------------------------------------------------------
class Raw(str):
    """JSON text sent as is: numbers Python's floats cannot hold, lone surrogate escapes."""


def encode(value):
    """Return ``value`` as JSON text, ``Raw`` parts verbatim."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode(k)}:{encode(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


CHARS = st.characters(exclude_categories=("Cs",))
LONG = ("x" * 5000, "é" * 2000, "🙂" * 1000, "9" * 400)  # constants: cheap to draw
TEXT = st.one_of(
    st.text(CHARS, max_size=12),
    st.sampled_from(["", " ", "\x00", "a\x00b", "..", "%", "null", "ø∂ƒ", "🙂", "a/b", "'; --"]),
)
LONG_TEXT = TEXT | st.sampled_from(LONG)
BIG = (2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**40))
INTS = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from((0, -1, 1, *BIG)))
RAW_NUMBERS = ("1e400", "-1e400", "1E-400", "-0", "0e0", "1.7976931348623157e308", "1" * 40)
NUMBERS = st.one_of(
    INTS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(RAW_NUMBERS).map(Raw),
)
ODD_STRINGS = (Raw('"\\ud800"'), Raw('"\\u0000"'), *LONG)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, st.sampled_from(ODD_STRINGS))
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
# Times Python holds whose UTC value it does not: year 10000, and 1 BC.
EDGE_TIMES = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
ZONES = st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))
TIMES = st.one_of(
    st.datetimes(timezones=ZONES).map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: t.isoformat()),
    st.sampled_from(EDGE_TIMES + ("2026-13-40", "Z", "9999-12-31T23:59:59+14:00")),
)


@st.composite
def some_of(draw, values, most=5):
    """Draw an object holding a few of the names in ``values`` (name -> strategy)."""
    names = draw(st.lists(st.sampled_from(sorted(values)), max_size=most, unique=True))
    return {name: draw(values[name]) for name in names}


def column_values(column):
    """Return values for ``column``: often of its kind, in its range or choices, often not."""
    if column.choices:
        typed = st.sampled_from(column.choices)
    else:
        typed = {
            "int": INTS,
            "float": NUMBERS,
            "bool": st.booleans(),
            "ts": TIMES,
            "str_list": st.lists(TEXT, max_size=3),
            "json": st.dictionaries(TEXT, LEAVES, max_size=3),
        }.get(column.kind, TEXT)
    return st.one_of(typed, typed, JSON_VALUES)


def rows(columns):
    """Return objects holding some of ``columns`` with values for each."""
    return some_of({c.name: column_values(c) for c in columns})


def child_values(child):
    """Return a child collection in its shape (list of rows, named rows, tags) or near it."""
    row = rows(child.columns)
    if child.shape == "named":
        shaped = st.dictionaries(TEXT, row | NUMBERS, max_size=3)
    elif child.shape == "tags":
        shaped = st.dictionaries(TEXT, LEAVES, max_size=3)
    else:
        shaped = st.lists(row, max_size=3)
    return st.one_of(shaped, row, JSON_VALUES)


@dataclass
class Pool:
    """The names a route's inputs are built from: body fields and query parameters."""

    objects: st.SearchStrategy
    query_names: tuple
    child_keys: tuple = ()

    @cached_property
    def bodies(self):
        """Return the strategy of this pool's bodies (built once: hypothesis validates it once)."""
        return body_strategy(self)

    @cached_property
    def queries(self):
        """Return the strategy of this pool's query strings."""
        return query_strategy(self)


def _component_pool(c):
    columns = {column.name: column for column in c.columns}
    schemas = [create_schema(c), patch_schema(c), BatchSchema]
    schemas += [child_row_schema(child) for child in c.children]
    schemas += [s.schema for s in (c.jobs.submissions if c.jobs else ())]
    names = sorted({name for schema in schemas for name in schema().fields} | set(columns))
    values = {}
    for name in names:
        if name in columns:
            values[name] = column_values(columns[name])
        elif name in c.child_by_key:
            values[name] = child_values(c.child_by_key[name])
        else:
            grouped = [column for column in c.columns if column.group == name]
            values[name] = rows(grouped) | JSON_VALUES if grouped else JSON_VALUES
    children = [child_values(child) for child in c.children]
    objects = st.one_of(some_of(values), some_of(values), *children)
    params = {p for importer in c.importers for p in importer.params}
    query = sorted({*filter_names(c), *params, c.batch_delete_param, *QUERY_NAMES})
    return Pool(objects, tuple(query), tuple(c.child_by_key))


def _gateway_pool():
    names = sorted({*SearchSchema().fields, *ModelViewSchema().fields})
    objects = some_of(dict.fromkeys(names, JSON_VALUES))
    return Pool(objects, (*names, *QUERY_NAMES))


POOLS = {**{c.name: _component_pool(c) for c in COMPONENTS}, "gateway": _gateway_pool()}

# The report formats the importers read are no schema: their names, so reports get past the top.
XML_TAGS = ("testsuites", "testsuite", "testcase", "failure", "error", "skipped", "property")
XML_ATTRS = ("name", "tests", "failures", "time", "timestamp", "value", "classname", "message")
BENCHMARK_KEYS = ("benchmarks", "machine_info", "cpu", "datetime", "name", "params", "stats")
BENCHMARK_STATS = ("min", "max", "mean", "stddev", "median", "iqr", "ops", "rounds", "data")
_TEXT_XML = TEXT.map(lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;"))


def _element(tag, attrs, children):
    attributes = "".join(f' {name}="{value}"' for name, value in attrs.items())
    return f"<{tag}{attributes}>{''.join(children)}</{tag}>"


_XML_VALUES = _TEXT_XML | NUMBERS.map(str) | st.sampled_from(("nan", "inf", "-1", *EDGE_TIMES))
_XML_ATTRS = some_of(dict.fromkeys(XML_ATTRS, _XML_VALUES), 3)
_XML_NODES = st.recursive(
    _TEXT_XML,
    lambda inner: st.builds(
        _element, st.sampled_from(XML_TAGS), _XML_ATTRS, st.lists(inner, max_size=3)
    ),
    max_leaves=6,
)
XML = st.builds(  # a report's root, so the importer reads on
    _element, st.sampled_from(XML_TAGS[:2]), _XML_ATTRS, st.lists(_XML_NODES, max_size=3)
)
BENCHMARK_ENTRY = some_of(
    {
        **dict.fromkeys(BENCHMARK_KEYS, JSON_VALUES),
        "stats": some_of(dict.fromkeys(BENCHMARK_STATS, NUMBERS | JSON_VALUES)),
    }
)
BENCHMARK_REPORT = some_of(
    {
        **dict.fromkeys(BENCHMARK_KEYS, JSON_VALUES),
        "benchmarks": st.lists(BENCHMARK_ENTRY, max_size=2),
        "datetime": TIMES,
    }
)
BOUNDARY_BODIES = (b"null", b"{}", b"[]", b'""', b"0")
BOUNDARY_NUMBERS = ("nan", "inf", "1e400", "1e300", "-1")
_SUITE = (
    '<testsuite tests="{v}" failures="{v}" time="{v}"><testcase name="a" time="{v}"/></testsuite>'
)
_BENCHMARK = {"name": "a", "stats": dict.fromkeys(BENCHMARK_STATS[:-1], 1e300)}
BOUNDARY_REPORTS = (
    *(_SUITE.format(v=v) for v in BOUNDARY_NUMBERS),
    f'<testsuite timestamp="{EDGE_TIMES[0]}"><testcase name="a"/></testsuite>',
    json.dumps({"datetime": EDGE_TIMES[0], "benchmarks": [_BENCHMARK]}),
)
# Over 64 KiB (more than one socket read), and nested past any parser's depth limit.
BIG_BODIES = (
    b"x" * 70_000,
    b"[" * 70_000,
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
)
CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "application/x-ndjson", "text/plain", "application/xml",
     "multipart/form-data", "application/x-www-form-urlencoded", "application/json; charset=utf-16"]
)  # fmt: skip
HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
HEADER_TEXT |= st.sampled_from(["r" * 200, "/" * 9000])
HEADERS = some_of(
    {
        "X-Request-ID": HEADER_TEXT,
        "X-Original-URI": HEADER_TEXT,
        "X-Original-Method": st.sampled_from(OTHER_METHODS) | HEADER_TEXT,
        "Accept": st.sampled_from(["text/html", "*/*", "application/xml"]),
    },
    2,
)


def body_strategy(pool):
    """Return (body bytes or None, Content-Type or None): JSON, NDJSON, reports, raw bytes."""
    objects = st.one_of(pool.objects, pool.objects, BENCHMARK_REPORT)
    json_texts = st.one_of(JSON_VALUES, objects, st.lists(objects, min_size=1, max_size=3)).map(
        encode
    )
    ndjson = st.lists(objects.map(encode), min_size=1, max_size=4).map("\n".join)
    truncated = st.builds(lambda text, cut: text[: cut % max(1, len(text))], json_texts, INTS)
    texts = st.one_of(
        st.tuples(json_texts, st.just("application/json")),
        st.tuples(ndjson | json_texts, st.just("application/x-ndjson")),
        st.tuples(json_texts | ndjson | truncated | XML, CONTENT_TYPES),
    ).map(lambda pair: (pair[0].encode(), pair[1]))
    raw = st.tuples(st.binary(max_size=300) | st.sampled_from(BIG_BODIES), CONTENT_TYPES)
    return st.one_of(st.just((None, None)), texts, texts, texts, raw)


def query_strategy(pool):
    """Return raw query strings: known and random names, brackets, odd numbers, junk escapes."""
    names = st.sampled_from(pool.query_names)
    keys = st.one_of(
        names,
        names,
        names.map(lambda name: f"{name}[]"),
        st.builds(lambda name, a, b: f"{name}[{a}][{b}]", names, TEXT, TEXT),
        TEXT,
    )
    values = st.one_of(
        LONG_TEXT,
        INTS.map(str),
        st.floats().map(repr),
        TIMES,
        st.sampled_from(["", "true", "null", "[]", "1e309", "-0", "0", "1001", "nan"]),
    )
    pairs = st.lists(
        st.builds(lambda k, v: f"{quote(k, safe='[]')}={quote(v, safe='')}", keys, values),
        max_size=4,
    )
    junk = st.sampled_from(["", "", "", "&", "%", "%zz", "=&=", "a=%00", "limit", "x=1;y=2"])
    return st.builds(lambda p, j: "&".join(filter(None, [*p, j])), pairs, junk)


def path_params(name, pool, seeds):
    """Return one path parameter, percent-encoded: existing ids, random text, numbers."""
    known = st.sampled_from(pool.child_keys if name == "key" and pool.child_keys else seeds)
    raw = st.one_of(known, known, LONG_TEXT, INTS.map(str), st.floats().map(repr))
    return st.builds(lambda value, safe: quote(value, safe=safe), raw, st.sampled_from(["", "/"]))
