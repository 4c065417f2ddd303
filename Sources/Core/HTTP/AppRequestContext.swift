import Foundation
import Hummingbird
import Logging
import NIOCore

/// The request context of every Atelier route: Hummingbird's core storage plus who is calling
/// (set by the authentication middleware) and where from (for throttling and logs).
package struct AppRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package var principal: Principal?
    package var requestID: String
    /// The client's address as text (`127.0.0.1`), or `unknown` (router tests have no socket).
    /// Starts as the socket's peer; `ClientOriginMiddleware` replaces it with the address a trusted
    /// proxy forwarded for, so guest ownership, limits, throttling and logs all see the real client.
    package var clientAddress: String
    /// `https://host[:port]` that absolute links in answers start with: `ATELIER_PUBLIC_URL` when
    /// set, else the scheme and host the client used; nil when neither is known.
    package var baseURL: String?
    /// Upper bound for request bodies; set from configuration by `BodyLimitMiddleware`.
    package var bodyLimit: Int

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.principal = nil
        self.requestID = ""
        self.clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        self.baseURL = nil
        self.bodyLimit = 1 << 20
    }

    package var maxUploadSize: Int { bodyLimit }

    /// `path` as an absolute URL when the base is known, else as it is.
    package func absolute(_ path: String) -> String {
        guard let baseURL, path.hasPrefix("/") else { return path }
        return baseURL + path
    }

    package var responseEncoder: JSONEncoder { APIJSON.encoder }
    package var requestDecoder: JSONDecoder { APIJSON.decoder }

    /// The authenticated caller, or 401.
    package func requirePrincipal() throws -> Principal {
        guard let principal else {
            throw AppError.unauthorized("authentication required: send Authorization: Bearer <token or API key>")
        }
        return principal
    }

    /// The authenticated caller with at least `role`, or 401/403.
    package func require(_ role: Role) throws -> Principal {
        let principal = try requirePrincipal()
        guard principal.role >= role else {
            throw AppError.forbidden("this action needs the \(role.rawValue) role; you are \(principal.role.rawValue)")
        }
        return principal
    }

    /// A caller with one of `roles` exactly (not "at least"), or 401/403 with `why`.
    package func require(oneOf roles: Set<Role>, _ why: String) throws -> Principal {
        let principal = try requirePrincipal()
        guard roles.contains(principal.role) else { throw AppError.forbidden(why) }
        return principal
    }

    /// Write access: any role but guest (seed 004's `require_not_guest`).
    package func requireWriter() throws -> Principal {
        let principal = try requirePrincipal()
        guard principal.role != .guest else {
            throw AppError.forbidden("guest accounts are read-only")
        }
        return principal
    }
}
