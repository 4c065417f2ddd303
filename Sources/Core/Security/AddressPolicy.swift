import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decides which addresses Atelier may connect to for a URL a user or admin supplied (model
/// downloads and their redirects, fleet nodes, webhooks, GPU backends, images a backend points
/// at). By default only public addresses: a request must not reach the server's own loopback, the
/// private network or a cloud metadata service (SSRF). `allowPrivate` (ATELIER_ALLOW_PRIVATE_HOSTS)
/// turns every check off, and names are then resolved by the HTTP client as usual.
///
/// Decisions are made on the address's bytes, never its spelling: IPv4 written inside IPv6
/// (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) is judged
/// as the IPv4 it carries.
package struct AddressPolicy: Sendable {
    package let allowPrivate: Bool
    /// A host name's addresses (empty when it does not resolve). Tests replace it.
    let resolve: @Sendable (String) async -> [IPAddress]
    /// The address a checked one is dialled at. Identity, except in tests, which judge a chosen
    /// public address but need the connection to land on a loopback fake.
    let dial: @Sendable (IPAddress) -> IPAddress

    package init(allowPrivate: Bool) {
        self.init(allowPrivate: allowPrivate, resolve: AddressPolicy.systemResolve, dial: { $0 })
    }

    init(
        allowPrivate: Bool,
        resolve: @escaping @Sendable (String) async -> [IPAddress],
        dial: @escaping @Sendable (IPAddress) -> IPAddress
    ) {
        self.allowPrivate = allowPrivate
        self.resolve = resolve
        self.dial = dial
    }

    /// This policy with private addresses refused whatever the installation allows: for URLs that
    /// accounts other than admins supply, where ATELIER_ALLOW_PRIVATE_HOSTS (meant for the
    /// operator's own LAN servers) must not let any account reach them.
    package func refusingPrivate() -> AddressPolicy {
        AddressPolicy(allowPrivate: false, resolve: resolve, dial: dial)
    }

    /// What a checked URL may be connected to.
    package struct Approval: Sendable, Equatable {
        /// The URL's host as the HTTP client sees it (brackets removed from IPv6 literals).
        package var host: String
        /// The address to connect to; nil when private hosts are allowed (connect by name).
        package var address: IPAddress?
        /// The host was an address already, so no lookup can change it.
        package var isLiteral: Bool
    }

    /// Checks `url`'s scheme and that its host is, or resolves only to, public addresses.
    /// `field` names the request field in the 4xx (`ref`, `url`, `endpoint`).
    package func approve(_ url: URL, field: String) async throws -> Approval {
        guard let scheme = url.scheme?.lowercased(), ["http", "https", "ws", "wss"].contains(scheme) else {
            throw AppError.validation(field: field, "only http and https URLs can be fetched (got \(url.scheme ?? "none"))")
        }
        guard var host = url.host, !host.isEmpty else { throw AppError.validation(field: field, "the URL has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let literal = IPAddress(host)
        if allowPrivate { return Approval(host: host, address: nil, isLiteral: literal != nil) }
        if let literal {
            try refuseIfPrivate(literal, host: host)
            return Approval(host: host, address: dial(literal), isLiteral: true)
        }
        let addresses = await resolve(host)
        guard let first = addresses.first else {
            throw AppError.validation(field: field, "host not found: \(host) does not resolve to any address")
        }
        // Every address must be public: the client could otherwise be steered to the private one.
        for address in addresses { try refuseIfPrivate(address, host: host) }
        return Approval(host: host, address: dial(first), isLiteral: false)
    }

    func refuseIfPrivate(_ address: IPAddress, host: String) throws {
        guard let range = Self.specialPurposeRange(address) else { return }
        let shown = host == address.description ? host : "\(host) resolves to \(address), which"
        throw AppError.forbidden(
            "\(shown) is a private or reserved address (\(range)); Atelier only connects to public addresses unless "
                + "ATELIER_ALLOW_PRIVATE_HOSTS=true (needed for LAN mirrors, GPU workers and fleet nodes on the local network)"
        )
    }

    package static func isPublic(_ address: IPAddress) -> Bool { specialPurposeRange(address) == nil }

    /// The IANA special-purpose range `address` is in when that range is not globally reachable
    /// (nil for a public address). IPv4 carried in IPv6 is judged as that IPv4.
    package static func specialPurposeRange(_ address: IPAddress) -> String? {
        if let v4 = embeddedIPv4(address) {
            let match = v4Private.first { $0.contains(v4) }
            return match.map { address == v4 ? "\($0)" : "\($0) inside \(address)" }
        }
        if let match = v6Private.first(where: { $0.contains(address) }) { return "\(match)" }
        // Only 2000::/3 is allocated for global unicast; everything else is reserved.
        return global.contains(address) ? nil : "outside 2000::/3 global unicast"
    }

    /// The IPv4 address an IPv6 one stands for: IPv4-mapped, IPv4-compatible (`::a.b.c.d`),
    /// IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 well-known prefix and 6to4.
    static func embeddedIPv4(_ address: IPAddress) -> IPAddress? {
        let bytes = address.bytes
        if address.isIPv4 { return address }
        // `::` and `::1` are themselves (unspecified, loopback), not IPv4-compatible forms.
        let compatible = bytes[0..<12].allSatisfy { $0 == 0 } && !(bytes[12..<15].allSatisfy { $0 == 0 } && bytes[15] <= 1)
        if compatible
            || (bytes[0..<8].allSatisfy { $0 == 0 } && bytes[8] == 0xff && bytes[9] == 0xff
                && bytes[10] == 0 && bytes[11] == 0)
            || nat64.contains(address)
        {
            return IPAddress(ipv4: Array(bytes[12..<16]))
        }
        if sixToFour.contains(address) { return IPAddress(ipv4: Array(bytes[2..<6])) }
        return nil
    }

    static let nat64 = CIDR("64:ff9b::/96")!
    static let sixToFour = CIDR("2002::/16")!
    static let global = CIDR("2000::/3")!

    /// IANA IPv4 special-purpose registry entries that are not globally reachable (192.0.0.0/24
    /// whole, though two of its addresses are), plus multicast and the broadcast address.
    static let v4Private: [CIDR] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    ].map { CIDR($0)! }

    /// IPv6 ranges inside 2000::/3 (or named for the message) that are not globally reachable;
    /// all of 2001::/23 is refused, including its few global sub-blocks.
    static let v6Private: [CIDR] = [
        "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    ].map { CIDR($0)! }

    /// getaddrinfo on a Dispatch thread, so a slow resolver does not hold a Swift concurrency
    /// thread (there are as many as cores).
    @Sendable static func systemResolve(_ host: String) async -> [IPAddress] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: getaddrinfoAddresses(host)) }
        }
    }

    static func getaddrinfoAddresses(_ host: String) -> [IPAddress] {
        var hints = addrinfo()
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let sockaddr = info.pointee.ai_addr {
                switch Int32(info.pointee.ai_family) {
                case AF_INET:
                    let v4 = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    addresses.append(IPAddress(ipv4: withUnsafeBytes(of: v4) { Array($0) }))
                case AF_INET6:
                    let v6 = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    addresses.append(IPAddress(ipv6: withUnsafeBytes(of: v6) { Array($0) }))
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return addresses.filter { seen.insert($0).inserted }
    }
}
