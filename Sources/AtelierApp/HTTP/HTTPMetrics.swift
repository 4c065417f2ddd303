import Core
import Hummingbird
import Logging
import Prometheus

/// Request counters and latency histograms in a registry owned by the app (not the global
/// MetricsSystem), so each app instance in tests has its own.
final class HTTPMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    static let buckets: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map {
        Duration.microseconds(Int64($0 * 1_000_000))
    }

    func record(method: String, route: String, status: Int, elapsed: Duration) {
        let requests = MetricNameDescriptor(
            namespace: "http",
            metricName: "requests",
            unitName: "total",
            helpText: "HTTP requests answered"
        )
        registry.makeCounter(
            descriptor: requests,
            labels: [
                ("method", method), ("route", route), ("status", String(status)),
            ]
        ).increment()
        let duration = MetricNameDescriptor(
            namespace: "http",
            metricName: "request_duration",
            unitName: "seconds",
            helpText: "Time to answer an HTTP request"
        )
        registry.makeDurationHistogram(
            descriptor: duration,
            labels: [("method", method), ("route", route)],
            buckets: Self.buckets
        ).record(elapsed)
    }

    /// Requests being answered now (a load balancer's drain, and tests that must act while one
    /// is in flight, read it).
    var inFlight: Gauge {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "http",
                metricName: "requests_in_flight",
                helpText: "HTTP requests being answered now"
            )
        )
    }

    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
