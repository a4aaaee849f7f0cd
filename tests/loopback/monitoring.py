"""Cloud Monitoring's `MetricService.ListTimeSeries`, served by the local gRPC server.

Cloud Monitoring has no emulator. This one keeps raw points per time series and answers
ListTimeSeries as the API documents it for the requests orchwatch makes:

- the filter: `AND`-joined `metric.type = "..."`, `resource.type = "..."`,
  `resource.label.K = "v"` or `= one_of("a", "b")` and `metric.label.K = "v"`; anything
  else is INVALID_ARGUMENT;
- the aggregation: an alignment period with ALIGN_SUM, ALIGN_MAX or ALIGN_MEAN (each point
  lands in the period its end time falls in; the aligned point ends at the period's end),
  then REDUCE_SUM, REDUCE_MAX or REDUCE_NONE across series grouped by `group_by_fields`
  (`resource.label.K`, `metric.label.K`), the other labels dropped;
- the series of the project `name` names only (its resources' `project_id`);
- points newest first, as Monitoring returns them; page tokens.

The types are the client library's own (`google.cloud.monitoring_v3`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import grpc
from google.api import metric_pb2
from google.cloud import monitoring_v3

METRIC_SERVICE = "google.monitoring.v3.MetricService"
_CLAUSE = re.compile(
    r"^(metric\.type|resource\.type|resource\.labels?\.(\w+)|metric\.labels?\.(\w+))\s*=\s*"
    r'(?:"([^"]*)"|one_of\(((?:\s*"[^"]*"\s*,?)+)\))$'
)


@dataclass
class RawSeries:
    """One stored time series: its names and labels, and its points (end time, value)."""

    metric: str
    resource: str
    resource_labels: dict[str, str]
    metric_labels: dict[str, str] = field(default_factory=dict)
    kind: str = "DELTA"
    points: list[tuple[datetime, float]] = field(default_factory=list)


def parse_filter(text: str) -> Callable[[RawSeries], bool]:
    """The predicate of a filter orchwatch sends.

    Raises:
        ValueError: a clause outside the subset (the server answers INVALID_ARGUMENT).
    """
    tests: list[Callable[[RawSeries], bool]] = []
    for raw in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(raw.strip())
        if match is None:
            raise ValueError(f"unsupported filter clause {raw!r}")
        what, resource_label, metric_label, single, many = match.groups()
        values = {single} if single is not None else set(re.findall(r'"([^"]*)"', many))
        if what == "metric.type":
            tests.append(lambda s, v=values: s.metric in v)
        elif what == "resource.type":
            tests.append(lambda s, v=values: s.resource in v)
        elif resource_label:
            tests.append(lambda s, k=resource_label, v=values: s.resource_labels.get(k) in v)
        else:
            tests.append(lambda s, k=metric_label, v=values: s.metric_labels.get(k) in v)
    if not any(c.startswith("metric.type") for c in re.split(r"\s+AND\s+", text.strip())):
        raise ValueError("a filter must name one metric.type")
    return lambda series: all(test(series) for test in tests)


_ALIGN: dict[int, Callable[[Sequence[float]], float]] = {
    monitoring_v3.Aggregation.Aligner.ALIGN_SUM: sum,
    monitoring_v3.Aggregation.Aligner.ALIGN_MAX: max,
    monitoring_v3.Aggregation.Aligner.ALIGN_MEAN: lambda v: sum(v) / len(v),
}
_REDUCE: dict[int, Callable[[Sequence[float]], float]] = {
    monitoring_v3.Aggregation.Reducer.REDUCE_SUM: sum,
    monitoring_v3.Aggregation.Reducer.REDUCE_MAX: max,
}


def list_time_series(
    stored: Sequence[RawSeries],
    request: monitoring_v3.ListTimeSeriesRequest,
    context: grpc.ServicerContext,
) -> list[monitoring_v3.TimeSeries]:
    """Every series the request asks for, aligned and reduced."""
    try:
        keep = parse_filter(request.filter)
    except ValueError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    aggregation = request.aggregation
    period: timedelta = aggregation.alignment_period
    if not period or period.total_seconds() < 60:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "alignment_period must be at least 60s")
    align = _ALIGN.get(int(aggregation.per_series_aligner))
    if align is None:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported per_series_aligner")
    start: datetime = request.interval.start_time
    end: datetime = request.interval.end_time
    project = request.name.removeprefix("projects/")
    aligned: list[tuple[RawSeries, dict[int, float]]] = []
    for series in stored:
        if series.resource_labels.get("project_id") != project or not keep(series):
            continue  # a project's series only (`name` scopes the request)
        buckets: dict[int, list[float]] = {}
        for at, value in series.points:
            if start < at <= end:
                buckets.setdefault(
                    int((at - start - timedelta(microseconds=1)) // period), []
                ).append(value)
        aligned.append((series, {k: align(v) for k, v in buckets.items()}))
    reducer = int(aggregation.cross_series_reducer)
    groups = list(aggregation.group_by_fields)
    if reducer == monitoring_v3.Aggregation.Reducer.REDUCE_NONE:
        if groups:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "group_by_fields needs a reducer")
        return [_out(s, s.resource_labels, s.metric_labels, b, start, period) for s, b in aligned]
    reduce = _REDUCE.get(reducer)
    if reduce is None:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported cross_series_reducer")
    grouped: dict[tuple[str, ...], list[tuple[RawSeries, dict[int, float]]]] = {}
    for series, buckets in aligned:
        key = tuple(_field(series, g) for g in groups)
        grouped.setdefault(key, []).append((series, buckets))
    out = []
    for key, members in sorted(grouped.items()):
        first = members[0][0]
        resource_labels = {
            g.split(".")[-1]: v
            for g, v in zip(groups, key, strict=True)
            if g.startswith("resource.")
        }
        metric_labels = {
            g.split(".")[-1]: v for g, v in zip(groups, key, strict=True) if g.startswith("metric.")
        }
        combined: dict[int, list[float]] = {}
        for _, buckets in members:
            for index, value in buckets.items():
                combined.setdefault(index, []).append(value)
        reduced = {k: reduce(v) for k, v in combined.items()}
        out.append(_out(first, resource_labels, metric_labels, reduced, start, period))
    return out


def _field(series: RawSeries, name: str) -> str:
    label = name.split(".")[-1]
    if name.startswith("resource."):
        return series.resource_labels.get(label, "")
    return series.metric_labels.get(label, "")


def _out(
    series: RawSeries,
    resource_labels: dict[str, str],
    metric_labels: dict[str, str],
    buckets: dict[int, float],
    start: datetime,
    period: timedelta,
) -> monitoring_v3.TimeSeries:
    points = [
        monitoring_v3.Point(
            interval=monitoring_v3.TimeInterval(
                start_time=start + period * index, end_time=start + period * (index + 1)
            ),
            value=monitoring_v3.TypedValue(int64_value=round(value)),
        )
        for index, value in sorted(buckets.items(), reverse=True)  # newest first
    ]
    return monitoring_v3.TimeSeries(
        metric={"type": series.metric, "labels": metric_labels},
        resource={"type": series.resource, "labels": resource_labels},
        metric_kind=getattr(metric_pb2.MetricDescriptor.MetricKind, series.kind),
        value_type=metric_pb2.MetricDescriptor.ValueType.INT64,
        points=points,
    )
