import Core
import Hummingbird
import Logging
import Prometheus

/// One log line per request (method, path without query, status, latency) and the Prometheus
/// request metrics. Query strings are left out of logs because clients put tokens in them.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: HTTPMetrics

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let inFlight = metrics.inFlight
        inFlight.increment()
        defer { inFlight.decrement() }
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // Route pattern (not the raw path) keeps metric label cardinality bounded.
        let route = context.endpointPath ?? "unmatched"
        metrics.record(method: request.method.rawValue, route: route, status: response.status.code, elapsed: elapsed)
        let level: Logger.Level = response.status.code >= 500 ? .error : .info
        context.logger.log(
            level: level,
            "\(request.method.rawValue) \(request.uri.path) \(response.status.code)",
            metadata: [
                "status": .stringConvertible(response.status.code),
                "latency_ms": .string(String(format: "%.2f", seconds * 1000)),
                "client": .string(context.clientAddress),
            ]
        )
        return response
    }
}
