import AsyncHTTPClient
import Core
import Foundation
import NIOCore

/// How the gateway reaches LLM upstreams: AtelierApp passes the outbound client, which checks
/// each provider's address (no private hosts unless allowed) and pins the connection to it.
/// Tests pass the same thing pointed at a fake upstream on 127.0.0.1.
package struct LLMTransport: Sendable {
    package let policy: AddressPolicy
    /// Sends a request; the timeout covers the time to the response head.
    let send: @Sendable (HTTPClientRequest, TimeAmount) async throws -> HTTPClientResponse
    /// Network errors in plain words ("connection refused").
    let describe: @Sendable (any Error) -> String

    package init(
        policy: AddressPolicy,
        send: @escaping @Sendable (HTTPClientRequest, TimeAmount) async throws -> HTTPClientResponse,
        describe: @escaping @Sendable (any Error) -> String
    ) {
        self.policy = policy
        self.send = send
        self.describe = describe
    }
}
