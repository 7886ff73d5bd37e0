"""Every service's request counter and latency histogram, as Prometheus scrapes them:
`mch_http_requests_total{service,method,route,status}` and
`mch_http_request_seconds{service,method,route}` (prometheus_client's default buckets).

They are kept as plain numbers and handed to Prometheus when it scrapes (a collector), where
prometheus_client's `Counter` and `Histogram` took a lock for each of the three values every
request changes, and looked for the bucket one bound at a time: a tenth of the shared request
path's own work on a request that does nothing (counted in instructions, docs/benchmarks.md,
issue 18). A service's requests are counted on its event loop's thread alone, the only one
that changes them.
"""

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

_BOUNDS = tuple(b for b in Histogram.DEFAULT_BUCKETS if b != float("inf"))
_LE = [floatToGoString(b) for b in _BOUNDS] + ["+Inf"]  # type: ignore[no-untyped-call]


class HttpMeters:
    """The counts of every service app of the process (see the module)."""

    def __init__(self) -> None:
        # (service, method, route, status) -> requests answered
        self._answered: dict[tuple[str, str, str, int], int] = {}
        # (service, method, route) -> [sum of seconds, then one count per bucket, +Inf last]
        self._latency: dict[tuple[str, str, str], list[float]] = {}

    def observe(self, service: str, method: str, route: str, status: int, seconds: float) -> None:
        answered = (service, method, route, status)
        self._answered[answered] = self._answered.get(answered, 0) + 1
        timed = self._latency.get(answered[:3])
        if timed is None:
            timed = self._latency[answered[:3]] = [0.0] * (len(_BOUNDS) + 2)
        timed[0] += seconds
        timed[1 + bisect_left(_BOUNDS, seconds)] += 1  # the first bound at or above it

    def collect(self) -> Iterator[Metric]:
        answered = CounterMetricFamily(
            "mch_http_requests", "HTTP requests", labels=["service", "method", "route", "status"]
        )
        for (service, method, route, status), count in list(self._answered.items()):
            answered.add_metric([service, method, route, str(status)], count)
        latency = HistogramMetricFamily(
            "mch_http_request_seconds",
            "HTTP request latency",
            labels=["service", "method", "route"],
        )
        for labels, (total, *counts) in list(self._latency.items()):
            running, buckets = 0.0, []
            for le, in_bucket in zip(_LE, counts, strict=True):
                running += in_bucket
                buckets.append((le, running))
            latency.add_metric(list(labels), buckets, total)
        yield answered
        yield latency


HTTP_METERS = HttpMeters()
REGISTRY.register(HTTP_METERS)
