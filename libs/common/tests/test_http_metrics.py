"""The request counter and latency histogram (mch_common.http_metrics), read back as
Prometheus reads them: the text exposition, parsed by prometheus_client's own parser."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mch_common.http_metrics import HttpMeters


def scraped(meters: HttpMeters) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(meters)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_are_counted_by_service_method_route_and_status() -> None:
    meters = HttpMeters()
    for status in (201, 201, 409):
        meters.observe("boshi_core", "POST", "/pregnancies", status, 0.004)
    meters.observe("atena", "GET", "/residents/{person_no}", 200, 0.002)
    samples = scraped(meters)
    labels = (("method", "POST"), ("route", "/pregnancies"), ("service", "boshi_core"))
    assert samples[("mch_http_requests_total", (*labels, ("status", "201")))] == 2
    assert samples[("mch_http_requests_total", (*labels, ("status", "409")))] == 1
    atena = (("method", "GET"), ("route", "/residents/{person_no}"), ("service", "atena"))
    assert samples[("mch_http_requests_total", (*atena, ("status", "200")))] == 1


def test_latency_falls_in_prometheus_default_buckets_cumulatively() -> None:
    meters = HttpMeters()
    for seconds in (0.003, 0.005, 0.02, 0.3, 12.0):  # 0.005 is in its own bound's bucket
        meters.observe("atena", "GET", "/residents", 200, seconds)
    samples = scraped(meters)
    labels = (("method", "GET"), ("route", "/residents"), ("service", "atena"))

    def bucket(le: str) -> float:
        return samples[("mch_http_request_seconds_bucket", tuple(sorted((*labels, ("le", le)))))]

    assert [bucket(le) for le in ("0.005", "0.01", "0.025", "0.25", "0.5", "10.0", "+Inf")] == [
        2,
        2,
        3,
        3,
        4,
        4,
        5,
    ]
    assert samples[("mch_http_request_seconds_count", labels)] == 5
    assert abs(samples[("mch_http_request_seconds_sum", labels)] - 12.328) < 1e-9
