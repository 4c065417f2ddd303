import AsyncHTTPClient
import NIOCore

/// How a feature reaches URLs on the network without importing Hub: AtelierApp passes Hub's
/// `OutboundHTTP`, which checks each address against the installation's policy and connects to
/// the address it checked. Generation (GPU backends) and Assistant (LLM and speech upstreams)
/// use it; tests pass the same thing pointed at fakes on 127.0.0.1.
package struct OutboundTransport: Sendable {
    package let policy: AddressPolicy
    /// Sends a request; the timeout covers the time to the response head.
    package let send: @Sendable (HTTPClientRequest, TimeAmount) async throws -> HTTPClientResponse
    /// Network errors in plain words ("connection refused").
    package let describe: @Sendable (any Error) -> String

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
