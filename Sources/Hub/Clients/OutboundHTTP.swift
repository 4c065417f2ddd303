import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import Synchronization

/// Sends requests to URLs a user or admin supplied, after `AddressPolicy` approved the address,
/// and connects to exactly the address that was approved: a second DNS lookup by the HTTP client
/// could otherwise answer a private address (DNS rebinding).
///
/// Pinning uses AsyncHTTPClient's `dnsOverride` (host → IP): the URL, the `Host` header, SNI and
/// certificate checks keep the original name while the socket goes to the IP. The override is
/// per client, so each pinned host gets a client of its own, kept for `pinLifetime` so the parallel
/// range requests of a pull reuse its connections. With private hosts allowed, or for an IP
/// literal (nothing to rebind), requests go through the shared client unchanged.
package final class OutboundHTTP: Sendable {
    package let policy: AddressPolicy
    /// The shared client: used whenever no pin is needed.
    package let client: HTTPClient
    let makePinnedClient: @Sendable ([String: String]) -> HTTPClient
    let pins = Mutex(PinTable())
    static let pinLifetime: Duration = .seconds(60)
    static let maxPinnedHosts = 16

    /// `makePinnedClient` builds a client with the given `dnsOverride` and the shared client's
    /// settings (same event loop group).
    package init(
        client: HTTPClient,
        policy: AddressPolicy,
        makePinnedClient: @escaping @Sendable ([String: String]) -> HTTPClient
    ) {
        self.client = client
        self.policy = policy
        self.makePinnedClient = makePinnedClient
    }

    /// Checks `request.url` and sends it. Refusals are `AppError`s (403 private address, 422 host
    /// not found or not http(s)) whose detail names `field`.
    package func execute(_ request: HTTPClientRequest, timeout: TimeAmount, field: String = "url") async throws -> HTTPClientResponse {
        if policy.allowPrivate { return try await client.execute(request, timeout: timeout) }
        guard let url = URL(string: request.url) else { throw AppError.validation(field: field, "not a valid URL: \(request.url)") }
        let lease = try await lease(for: url, field: field)
        guard let lease else { return try await client.execute(request, timeout: timeout) }
        var response = try await lease.client.execute(request, timeout: timeout)
        // The pinned client lives at least as long as the body is being read.
        response.body = .stream(LeasedBody(base: response.body, lease: lease))
        return response
    }

    /// The same client refusing private addresses whatever this one allows (for URLs accounts
    /// other than admins supplied).
    package func publicOnly() -> OutboundHTTP {
        OutboundHTTP(client: client, policy: policy.refusingPrivate(), makePinnedClient: makePinnedClient)
    }

    /// Approves `url` without sending anything (create/update checks).
    package func approve(_ url: URL, field: String) async throws { _ = try await policy.approve(url, field: field) }

    /// The pinned client for `url`'s host, or nil when the shared client may be used.
    func lease(for url: URL, field: String) async throws -> PinLease? {
        // Spelled exactly as AsyncHTTPClient reads it from the same URL: `dnsOverride` matches names
        // as written, and a key it does not match would let the client look the name up itself.
        guard var host = url.host else { throw AppError.validation(field: field, "the URL has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let now = ContinuousClock.now
        if IPAddress(host) == nil, let pinned = pins.withLock({ $0.lease(host: host, now: now) }) {
            // Pinned within the last minute: that address was approved then; no new lookup.
            try scheme(url, field: field)
            return PinLease(table: self, id: pinned.id, client: pinned.client)
        }
        let approval = try await policy.approve(url, field: field)
        // An approved IP literal dialled as written needs no pin: there is no lookup to rebind.
        guard let address = approval.address, !approval.isLiteral || IPAddress(approval.host) != address else { return nil }
        let (id, client, retired) = pins.withLock { table in
            table.pin(host: host, address: address, now: now, lifetime: Self.pinLifetime, capacity: Self.maxPinnedHosts) {
                makePinnedClient([host: address.description])
            }
        }
        for old in retired { Self.shutDown(old) }
        return PinLease(table: self, id: id, client: client)
    }

    func scheme(_ url: URL, field: String) throws {
        guard let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
            throw AppError.validation(field: field, "only http and https URLs can be fetched (got \(url.scheme ?? "none"))")
        }
    }

    func release(_ id: Int) {
        if let client = pins.withLock({ $0.release(id) }) { Self.shutDown(client) }
    }

    static func shutDown(_ client: HTTPClient) {
        Task { try? await client.shutdown() }
    }

    /// Shuts every pinned client down (the shared client belongs to whoever made it).
    package func shutdown() async {
        let clients = pins.withLock { $0.close() }
        for client in clients { try? await client.shutdown() }
    }

    /// The pinned clients: one live entry per host, plus replaced or evicted entries that still
    /// have requests in flight (shut down when the last one ends).
    struct PinTable {
        struct Entry {
            var id: Int
            var host: String
            var address: IPAddress
            var client: HTTPClient
            var expires: ContinuousClock.Instant
            var lastUsed: ContinuousClock.Instant
            var leases: Int
        }

        var live: [String: Entry] = [:]
        var retired: [Int: Entry] = [:]
        var nextID = 0
        var closed = false

        mutating func lease(host: String, now: ContinuousClock.Instant) -> (id: Int, client: HTTPClient)? {
            guard !closed, var entry = live[host], entry.expires > now else { return nil }
            entry.leases += 1
            entry.lastUsed = now
            live[host] = entry
            return (entry.id, entry.client)
        }

        /// Pins `host` to `address` (keeping the client when the address is unchanged) and leases
        /// it. Returns the clients that can be shut down now.
        mutating func pin(
            host: String,
            address: IPAddress,
            now: ContinuousClock.Instant,
            lifetime: Duration,
            capacity: Int,
            make: () -> HTTPClient
        ) -> (Int, HTTPClient, [HTTPClient]) {
            var idle: [HTTPClient] = []
            if var entry = live[host], entry.address == address, !closed {
                entry.expires = now + lifetime
                entry.lastUsed = now
                entry.leases += 1
                live[host] = entry
                return (entry.id, entry.client, idle)
            }
            if let old = live.removeValue(forKey: host) { retire(old, into: &idle) }
            while live.count >= capacity, let oldest = live.values.min(by: { $0.lastUsed < $1.lastUsed }) {
                live.removeValue(forKey: oldest.host)
                retire(oldest, into: &idle)
            }
            nextID += 1
            let entry = Entry(
                id: nextID,
                host: host,
                address: address,
                client: make(),
                expires: now + lifetime,
                lastUsed: now,
                leases: 1
            )
            // After close, the client serves this one request and is shut down when it ends.
            if closed { retired[entry.id] = entry } else { live[host] = entry }
            return (entry.id, entry.client, idle)
        }

        mutating func retire(_ entry: Entry, into idle: inout [HTTPClient]) {
            if entry.leases == 0 { idle.append(entry.client) } else { retired[entry.id] = entry }
        }

        /// Ends one lease; returns the client when it was retired and is now unused.
        mutating func release(_ id: Int) -> HTTPClient? {
            if var entry = retired[id] {
                entry.leases -= 1
                if entry.leases > 0 {
                    retired[id] = entry
                    return nil
                }
                retired.removeValue(forKey: id)
                return entry.client
            }
            if let host = live.first(where: { $0.value.id == id })?.key { live[host]?.leases -= 1 }
            return nil
        }

        mutating func close() -> [HTTPClient] {
            closed = true
            let clients = live.values.map(\.client) + retired.values.map(\.client)
            live = [:]
            retired = [:]
            return clients
        }
    }
}

/// One request's hold on a pinned client; released when the response (and its body) is dropped.
final class PinLease: Sendable {
    let table: OutboundHTTP
    let id: Int
    let client: HTTPClient

    init(table: OutboundHTTP, id: Int, client: HTTPClient) {
        self.table = table
        self.id = id
        self.client = client
    }

    deinit { table.release(id) }
}

/// A response body that keeps its pinned client's lease while it is read.
struct LeasedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: HTTPClientResponse.Body
    let lease: PinLease

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: HTTPClientResponse.Body.AsyncIterator
        let lease: PinLease
        mutating func next() async throws -> ByteBuffer? { try await base.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), lease: lease) }
}
