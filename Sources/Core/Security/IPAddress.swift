#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address as its 16 network-order bytes. IPv4 is held in its IPv4-mapped IPv6 form
/// (`::ffff:a.b.c.d`), so one comparison covers both spellings of the same host: a decision made
/// on text (`127.0.0.1` vs `::ffff:127.0.0.1`) is a decision an attacker can spell around.
package struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    package let bytes: [UInt8]

    /// Parses `1.2.3.4`, `::1`, `[::ffff:1.2.3.4]` and `fe80::1%eth0` (the zone is dropped).
    package init?(_ text: some StringProtocol) {
        var text = String(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(ipv4: withUnsafeBytes(of: v4.s_addr) { Array($0) })
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self.init(ipv6: withUnsafeBytes(of: v6) { Array($0) })
    }

    package init(ipv4 octets: [UInt8]) {
        precondition(octets.count == 4)
        bytes = Array(repeating: 0, count: 10) + [0xff, 0xff] + octets
    }

    package init(ipv6 bytes: [UInt8]) {
        precondition(bytes.count == 16)
        self.bytes = bytes
    }

    /// True for an IPv4 address (stored IPv4-mapped).
    package var isIPv4: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff }

    /// The four IPv4 octets when this is an IPv4 address.
    package var ipv4Octets: [UInt8]? { isIPv4 ? Array(bytes[12..<16]) : nil }

    package var description: String {
        if let octets = ipv4Octets { return octets.map(String.init).joined(separator: ".") }
        var v6 = in6_addr()
        withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An address range, `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
package struct CIDR: Hashable, Sendable, CustomStringConvertible {
    package let network: IPAddress
    /// Prefix length over the 16-byte form (an IPv4 `/8` is `/104` here).
    package let prefixLength: Int

    package init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...maximum).contains(given) else { return nil }
            length = given
        }
        self.init(address, prefixLength: address.isIPv4 ? 96 + length : length)
    }

    package init(_ address: IPAddress, prefixLength: Int) {
        self.prefixLength = prefixLength
        var bytes = address.bytes
        for index in 0..<16 {
            let bitsHere = max(0, min(8, prefixLength - index * 8))
            bytes[index] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsHere))
        }
        network = IPAddress(ipv6: bytes)
    }

    package func contains(_ address: IPAddress) -> Bool {
        CIDR(address, prefixLength: prefixLength).network == network
    }

    package var description: String {
        network.isIPv4 ? "\(network)/\(prefixLength - 96)" : "\(network)/\(prefixLength)"
    }
}
