import AsyncHTTPClient
import Core
import NIOCore

/// How backends reach the network. Every request to a worker's endpoint, and to an image URL a
/// backend answered with, goes through the installation's address policy and is connected to the
/// address it checked (AtelierApp passes Hub's `OutboundHTTP`, which Generation cannot import).
package struct BackendTransport: Sendable {
    package let policy: AddressPolicy
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
