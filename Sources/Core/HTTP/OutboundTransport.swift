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
    /// Sends a request to public addresses only, whatever the installation allows (every name
    /// looked up and checked at send time): for URLs accounts other than admins supplied. nil:
    /// `send` already refuses private addresses.
    package let sendPublic: (@Sendable (HTTPClientRequest, TimeAmount) async throws -> HTTPClientResponse)?
    /// Network errors in plain words ("connection refused").
    package let describe: @Sendable (any Error) -> String

    package init(
        policy: AddressPolicy,
        send: @escaping @Sendable (HTTPClientRequest, TimeAmount) async throws -> HTTPClientResponse,
        sendPublic: (@Sendable (HTTPClientRequest, TimeAmount) async throws -> HTTPClientResponse)? = nil,
        describe: @escaping @Sendable (any Error) -> String
    ) {
        self.policy = policy
        self.send = send
        self.sendPublic = sendPublic
        self.describe = describe
    }

    /// `send`, or `sendPublic` when `publicOnly`.
    package func send(publicOnly: Bool) -> @Sendable (HTTPClientRequest, TimeAmount) async throws -> HTTPClientResponse {
        publicOnly ? (sendPublic ?? send) : send
    }
}
