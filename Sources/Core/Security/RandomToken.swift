import Foundation

/// Random identifiers and secrets from the system's CSPRNG (`SystemRandomNumberGenerator`).
package enum RandomToken {
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

    /// `count` characters of base62: ~5.95 bits each.
    package static func base62(_ count: Int) -> String {
        // Eight random bytes per call to the system generator (one getrandom each), and a byte
        // is used only below 248 = 4 × 62, so every character is uniform.
        var generator = SystemRandomNumberGenerator()
        var characters: [Character] = []
        characters.reserveCapacity(count)
        while characters.count < count {
            var word = generator.next()
            for _ in 0..<8 where characters.count < count {
                let byte = Int(word & 0xFF)
                word >>= 8
                if byte < 248 { characters.append(alphabet[byte % 62]) }
            }
        }
        return String(characters)
    }

    /// A password a person can type: 20 base62 characters (~119 bits).
    package static func password() -> String { base62(20) }
}

/// Opaque, sortable IDs: a prefix naming the kind, the creation time in milliseconds (base36,
/// so ids sort by creation) and randomness. Example: `usr_lq3k9z1a_7Hk2pQ9x`.
package enum ID {
    package static func make(_ prefix: String, now: Date = Date()) -> String {
        lowerBound(prefix, millis: Int64(max(0, now.timeIntervalSince1970 * 1000))) + RandomToken.base62(10)
    }

    /// The smallest id of this kind made at `millis` or later (for range scans by creation time).
    package static func lowerBound(_ prefix: String, millis: Int64) -> String {
        let time = String(UInt64(max(0, millis)), radix: 36)
        return "\(prefix)_" + String(repeating: "0", count: max(0, 9 - time.count)) + time
    }
}
