import Foundation
import HTTPTypes

/// Which peers may tell us, through `X-Forwarded-*` or `Forwarded`, who the client really is.
/// Only a reverse proxy we run can be believed: from anyone else those headers are the client
/// speaking about itself. Loopback is trusted by default, as uvicorn trusts 127.0.0.1.
package struct TrustedProxies: Sendable, Equatable {
    package let ranges: [CIDR]
    package let trustsEveryone: Bool

    package static let loopback = TrustedProxies(ranges: [CIDR("127.0.0.0/8")!, CIDR("::1")!])
    package static let nobody = TrustedProxies(ranges: [])

    package init(ranges: [CIDR], trustsEveryone: Bool = false) {
        self.ranges = ranges
        self.trustsEveryone = trustsEveryone
    }

    /// Reads a setting: addresses and CIDRs separated by commas or spaces, `*` for everyone (a
    /// proxy that is the only way in), `none` or an empty value for nobody.
    package init(parsing text: String) throws {
        let items = text.split(whereSeparator: { $0 == "," || $0 == " " }).map { $0.trimmingCharacters(in: .whitespaces) }
        if items.isEmpty || items == ["none"] {
            self = .nobody
            return
        }
        if items == ["*"] {
            self.init(ranges: [], trustsEveryone: true)
            return
        }
        var ranges: [CIDR] = []
        for item in items {
            guard let range = CIDR(item) else { throw InvalidProxyList(item: item) }
            ranges.append(range)
        }
        self.init(ranges: ranges)
    }

    package func trusts(_ address: IPAddress) -> Bool {
        trustsEveryone || ranges.contains { $0.contains(address) }
    }

    package struct InvalidProxyList: Error, CustomStringConvertible {
        package var item: String
        package var description: String {
            "'\(item)' is not an IP address or CIDR (examples: 127.0.0.1, 10.0.0.0/8, fd00::/8, *, none)"
        }
    }
}

/// Where a request came from, as far as we can believe it.
package struct RequestOrigin: Sendable, Equatable {
    /// The client's address (`203.0.113.9`), `unknown` without a socket, or what a trusted proxy
    /// called it when that is not an address (RFC 7239's `_hidden` names).
    package var clientAddress: String
    /// `http` or `https`, as the client used it.
    package var scheme: String
    /// `host[:port]` as the client addressed it, when it was given and well-formed.
    package var host: String?

    /// `scheme://host`, the base of absolute links, when the host is known.
    package var baseURL: String? { host.map { "\(scheme)://\($0)" } }
}

extension TrustedProxies {
    /// Works out the origin of a request that arrived from `peer` with `headers`. Forwarded
    /// headers count only when the peer is trusted; the client is then the right-most address in
    /// the chain that is not itself a trusted proxy (everything left of it could be forged by the
    /// client). `X-Forwarded-For` is read when present (what nginx and most proxies set, and
    /// append to), else `Forwarded`. `authority` is the request's Host.
    package func origin(peer: String, authority: String?, headers: HTTPFields) -> RequestOrigin {
        let peerAddress = IPAddress(peer)
        let direct = RequestOrigin(
            clientAddress: peerAddress?.description ?? peer,
            scheme: "http",
            host: authority.flatMap(Self.wellFormedHost)
        )
        guard let peerAddress, trusts(peerAddress) else { return direct }

        let hops: [Hop]
        if let xff = Self.joined(headers, "X-Forwarded-For") {
            hops = xff.split(separator: ",").map { Hop(node: String($0).trimmingCharacters(in: .whitespaces)) }
        } else if let forwarded = Self.joined(headers, "Forwarded") {
            hops = Self.parseForwarded(forwarded)
        } else {
            hops = []
        }
        var origin = direct
        // The nearest hop's scheme and host: what the client (or the next proxy out) used to reach
        // our proxy. A later untrusted hop's claims about them are not believed.
        var chosen: Hop?
        for hop in hops.suffix(Self.maxHops).reversed() {
            chosen = hop
            guard let address = IPAddress(Self.stripPort(hop.node)), trusts(address) else { break }
        }
        if let chosen, !chosen.node.isEmpty {
            origin.clientAddress = IPAddress(Self.stripPort(chosen.node))?.description ?? String(chosen.node.prefix(64))
        }
        let proto = chosen?.proto ?? Self.last(headers, "X-Forwarded-Proto")
        if let proto = proto?.lowercased(), proto == "http" || proto == "https" { origin.scheme = proto }
        if let host = (chosen?.host ?? Self.last(headers, "X-Forwarded-Host")).flatMap(Self.wellFormedHost) {
            origin.host = host
        }
        return origin
    }

    struct Hop {
        var node: String
        var proto: String?
        var host: String?
    }

    /// More hops than this are not read: a chain this long is noise or an attack.
    static let maxHops = 32

    /// RFC 7239: `for=192.0.2.60;proto=https;host=a.example, for="[2001:db8::1]:4711"`.
    static func parseForwarded(_ value: String) -> [Hop] {
        value.split(separator: ",").map { element in
            var hop = Hop(node: "")
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let name = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
                var value = parts[1].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                switch name {
                case "for": hop.node = value
                case "proto": hop.proto = value
                case "host": hop.host = value
                default: break
                }
            }
            return hop
        }
    }

    /// `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`; a bare IPv6 address stays whole.
    static func stripPort(_ node: String) -> String {
        if node.hasPrefix("["), let close = node.firstIndex(of: "]") {
            return String(node[node.index(after: node.startIndex)..<close])
        }
        if node.filter({ $0 == ":" }).count == 1, let colon = node.firstIndex(of: ":") { return String(node[..<colon]) }
        return node
    }

    /// A host as links may carry it: a name or address and an optional port, nothing else (a
    /// Host header is client input, and it ends up in links other people follow).
    static func wellFormedHost(_ value: String) -> String? {
        let host = value.trimmingCharacters(in: .whitespaces)
        guard (1...255).contains(host.utf8.count) else { return nil }
        let allowed = host.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-:[]_".unicodeScalars.contains(scalar))
        }
        guard allowed, !host.hasPrefix("."), !host.hasPrefix("-"), !host.hasPrefix(":") else { return nil }
        return host
    }

    static func joined(_ headers: HTTPFields, _ name: String) -> String? {
        guard let field = HTTPField.Name(name) else { return nil }
        let values = headers[values: field]
        guard !values.isEmpty else { return nil }
        let joined = values.joined(separator: ",")
        return joined.utf8.count <= 8192 ? joined : nil
    }

    static func last(_ headers: HTTPFields, _ name: String) -> String? {
        joined(headers, name)?.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
