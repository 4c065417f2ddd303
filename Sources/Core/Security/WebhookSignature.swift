import Crypto
import Foundation

/// Signs outgoing webhooks and checks incoming ones: `X-Atelier-Signature: t=UNIX,v1=HEX`, where
/// HEX is HMAC-SHA256 over `"\(t).\(body)"` with the shared secret. The timestamp lets receivers
/// refuse replays older than a few minutes.
package enum WebhookSignature {
    package static let header = "X-Atelier-Signature"

    package static func sign(body: Data, secret: Secret, timestamp: Int) -> String {
        "t=\(timestamp),v1=\(mac(body: body, secret: secret, timestamp: timestamp))"
    }

    package static func verify(body: Data, header: String, secret: Secret, now: Int, tolerance: Int = 300) -> Bool {
        var timestamp: Int?
        var signature: String?
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int(pair[1]) }
            if pair[0] == "v1" { signature = pair[1] }
        }
        guard let timestamp, let signature, SignatureClock.isFresh(timestamp, now: now, tolerance: tolerance) else { return false }
        let expected = mac(body: body, secret: secret, timestamp: timestamp)
        return expected.utf8.count == signature.utf8.count
            && zip(expected.utf8, signature.utf8).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func mac(body: Data, secret: Secret, timestamp: Int) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.value.utf8)))
        return Hex.encode(code)
    }
}
