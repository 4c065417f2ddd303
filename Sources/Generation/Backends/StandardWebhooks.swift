import Core
import Crypto
import Foundation

/// The Standard Webhooks signature scheme (https://www.standardwebhooks.com), which Replicate's
/// webhooks use: headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
/// (space-separated `v1,<base64>`), where the base64 is HMAC-SHA256 over `"{id}.{timestamp}.{body}"`
/// keyed with the bytes of the `whsec_<base64>` secret.
package enum StandardWebhooks {
    /// The key bytes of a `whsec_…` secret (nil when it is not one).
    package static func key(fromSecret secret: String) -> [UInt8]? {
        guard secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))), !bytes.isEmpty else { return nil }
        return Array(bytes)
    }

    package static func sign(id: String, timestamp: Int, body: Data, key: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: message(id: id, timestamp: timestamp, body: body), using: SymmetricKey(data: key))
        return "v1," + Data(code).base64EncodedString()
    }

    /// True when one of the header's `v1` signatures matches and the timestamp is within
    /// `tolerance` seconds of `now` (older deliveries could be replays).
    package static func verify(
        id: String,
        timestamp: String,
        signatures: String,
        body: Data,
        key: [UInt8],
        now: Int,
        tolerance: Int = 300
    ) -> Bool {
        guard let time = Int(timestamp), SignatureClock.isFresh(time, now: now, tolerance: tolerance) else { return false }
        let signed = message(id: id, timestamp: time, body: body)
        for candidate in signatures.split(separator: " ") where candidate.hasPrefix("v1,") {
            guard let mac = Data(base64Encoded: String(candidate.dropFirst(3))) else { continue }
            // Compared in constant time by swift-crypto.
            if HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: SymmetricKey(data: key)) { return true }
        }
        return false
    }

    static func message(id: String, timestamp: Int, body: Data) -> Data {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        return message
    }
}
