import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The outbound HTTP client for hubs and model files. Redirects are followed here, not by
/// AsyncHTTPClient, so that credentials go only to the host they belong to: the `Authorization`
/// header is dropped as soon as a redirect leaves the original host (Civitai and Hugging Face
/// both redirect file downloads to CDN hosts with signed URLs).
package struct HubHTTP: Sendable {
    /// Checks every hop's address (`AddressPolicy`) and connects to the address it checked.
    package let outbound: OutboundHTTP
    let logger: Logger

    package var client: HTTPClient { outbound.client }

    package init(outbound: OutboundHTTP, logger: Logger) {
        self.outbound = outbound
        self.logger = logger
    }

    /// An HTTP client for hub traffic: no automatic redirects, bounded connect/read timeouts, and
    /// enough connections per host for parallel ranged downloads. `dnsOverride` pins host names
    /// to checked addresses (see `OutboundHTTP`).
    /// `read`: the longest silence on a connection, the wait for the response head included (nil:
    /// none, for callers that keep their own timers, as the LLM gateway does).
    package static func makeClient(dnsOverride: [String: String] = [:], read: TimeAmount? = .seconds(60)) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(15), read: read)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        // A refused connection fails at once instead of being retried until the deadline: callers
        // retry with their own bounded backoff, and a node that is down must not stall a fan-out.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        configuration.dnsOverride = dnsOverride
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The outbound client every part of Atelier shares: `client` (from `makeClient()`) for
    /// unpinned requests, and pinned clients made alike.
    package static func makeOutbound(client: HTTPClient, allowPrivate: Bool, read: TimeAmount? = .seconds(60)) -> OutboundHTTP {
        OutboundHTTP(client: client, policy: AddressPolicy(allowPrivate: allowPrivate)) { makeClient(dnsOverride: $0, read: read) }
    }

    package struct Response: Sendable {
        package var url: URL
        package var status: HTTPResponseStatus
        package var headers: HTTPHeaders
        package var body: HTTPClientResponse.Body

        /// Reads a small body (error pages, API JSON) up to `limit` bytes.
        package func collect(limit: Int = 8 << 20) async throws -> ByteBuffer {
            try await body.collect(upTo: limit)
        }
    }

    /// Sends a request and follows up to `maxRedirects` redirects. `credentials` are sent to
    /// `credentialHost` only.
    package func send(
        _ method: HTTPMethod = .GET,
        url: URL,
        headers: [(String, String)] = [],
        credentials: Secret? = nil,
        timeout: TimeAmount = .seconds(60),
        maxRedirects: Int = 8,
        followRedirects: Bool = true
    ) async throws -> Response {
        var current = url
        let credentialOrigin = Self.origin(url)
        for _ in 0...maxRedirects {
            var request = HTTPClientRequest(url: current.absoluteString)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.headers.replaceOrAdd(name: "User-Agent", value: "atelier/\(HubVersion.userAgent)")
            if let credentials, Self.origin(current) == credentialOrigin {
                request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(credentials.value)")
            }
            let response: HTTPClientResponse
            do {
                // Checked at every hop: a public host may redirect to a private one.
                response = try await outbound.execute(request, timeout: timeout, field: "ref")
            } catch let refusal as AppError {
                throw refusal
            } catch {
                throw HubTransportError(url: current, underlying: error)
            }
            if followRedirects, [301, 302, 303, 307, 308].contains(response.status.code),
                let location = response.headers.first(name: "Location")
            {
                guard let next = URL(string: location, relativeTo: current)?.absoluteURL else {
                    throw HubTransportError(url: current, underlying: BadRedirect(location: location))
                }
                // Drain the redirect's body so the connection can be reused.
                _ = try? await response.body.collect(upTo: 1 << 20)
                current = next
                continue
            }
            return Response(url: current, status: response.status, headers: response.headers, body: response.body)
        }
        throw HubTransportError(url: current, underlying: BadRedirect(location: "more than \(maxRedirects) redirects"))
    }

    /// scheme://host:port, the unit credentials belong to.
    static func origin(_ url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(port)"
    }

    struct BadRedirect: Error, CustomStringConvertible {
        var location: String
        var description: String { "bad redirect (\(location))" }
    }
}

/// A network failure talking to `url`: connection refused, reset, timed out, TLS…
package struct HubTransportError: WrappedNetworkError, CustomStringConvertible {
    package var url: URL
    package var underlying: any Error

    package var description: String { "\(url.host ?? "?"): \(NetworkErrors.describe(underlying))" }

    package var isTimeout: Bool {
        if let error = underlying as? HTTPClientError {
            return error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        }
        return false
    }
}

enum HubVersion {
    static let userAgent = "0.1"
}
