import Core
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Decides which URLs may be fetched on a user's behalf. By default only http(s) URLs whose host
/// resolves to public addresses: a pull request must not be able to reach the server's own
/// loopback or the private network (SSRF). Tests and LAN mirrors set `allowPrivate`.
public struct HostGuard: Sendable {
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) { self.allowPrivate = allowPrivate }

    public func check(_ url: URL) async throws {
        guard let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            throw AppError.validation(field: "ref", "only http and https URLs can be fetched (got \(url.scheme ?? "none"))")
        }
        guard let host = url.host, !host.isEmpty else {
            throw AppError.validation(field: "ref", "the URL has no host")
        }
        if allowPrivate { return }
        let addresses = Self.resolve(host)
        if let blocked = addresses.first(where: Self.isPrivate) {
            throw AppError.forbidden(
                "\(host) resolves to a private address (\(blocked)); set ATELIER_ALLOW_PRIVATE_HOSTS=true to allow LAN hosts")
        }
    }

    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                           NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    /// Loopback, private, link-local, CGNAT, unspecified and unique-local addresses.
    static func isPrivate(_ address: String) -> Bool {
        let lower = address.lowercased()
        if lower.contains(":") {
            return lower == "::1" || lower == "::" || lower.hasPrefix("fc") || lower.hasPrefix("fd")
                || lower.hasPrefix("fe80") || lower.hasPrefix("::ffff:127.") || lower.hasPrefix("::ffff:10.")
                || lower.hasPrefix("::ffff:192.168.")
        }
        let octets = address.split(separator: ".").compactMap { Int($0) }
        guard octets.count == 4 else { return true }
        switch (octets[0], octets[1]) {
        case (0, _), (10, _), (127, _): return true
        case (100, 64...127): return true
        case (169, 254): return true
        case (172, 16...31): return true
        case (192, 168): return true
        default: return false
        }
    }
}
