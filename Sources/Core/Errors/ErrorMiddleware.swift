import Foundation
import Hummingbird
import Logging

/// Outermost middleware: every error becomes a JSON error body in the route group's style.
/// Server faults (5xx that we did not raise on purpose) are logged with the request id.
package struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteIndex?

    package init(routes: RouteIndex? = nil) { self.routes = routes }

    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let custom as any HTTPResponseError where !(custom is AppError) && !(custom is HTTPError) {
            // A route-specific error shape (seed-compatibility bodies) renders itself.
            return try custom.response(from: request, context: context)
        } catch {
            let requestID = context.logger[metadataKey: "request_id"]?.description ?? "-"
            var appError = ErrorMapping.appError(from: error, requestID: requestID)
            if appError.status == .notFound, context.endpointPath == "NotFound", let routes {
                let allowed = routes.allowedMethods(for: request.uri.path)
                if !allowed.isEmpty {
                    appError = AppError(
                        .methodNotAllowed,
                        "\(request.method.rawValue) is not allowed here; use \(allowed.joined(separator: ", "))",
                        code: "method_not_allowed",
                        headers: [.allow: allowed.joined(separator: ", ")]
                    )
                }
            }
            if appError.status == .internalServerError {
                context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            }
            return appError.response(style: ErrorStyle.forPath(request.uri.path))
        }
    }
}
