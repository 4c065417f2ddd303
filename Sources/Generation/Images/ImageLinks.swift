import Core
import Crypto
import Foundation

/// URLs of stored images. With public images (the default; a SHA-256 cannot be guessed) a URL is
/// `/images/HASH.png`; otherwise it carries an expiry and an HMAC (`?expires=…&sig=…`) and the
/// image route checks them. Signed links for sharing work in both modes.
package struct ImageLinks: Sendable {
    let key: SymmetricKey
    /// Serve `/images/HASH.png` to anyone who has the hash.
    package let publicImages: Bool
    /// How long the signed URLs in API answers stay valid.
    package let lifetimeSeconds: Int64

    package init(masterSecret: Secret, publicImages: Bool, lifetimeSeconds: Int64) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(masterSecret.value.utf8)),
            info: Data("atelier image links".utf8),
            outputByteCount: 32
        )
        self.publicImages = publicImages
        self.lifetimeSeconds = lifetimeSeconds
    }

    /// The URL API answers show for an image.
    package func url(_ hash: String, now: Date = Date()) -> String {
        publicImages ? "/images/\(hash).png" : signed(hash, expires: Int64(now.timeIntervalSince1970) + lifetimeSeconds)
    }

    /// A URL that works until `expires` (Unix seconds), whether images are public or not.
    package func signed(_ hash: String, expires: Int64) -> String {
        "/images/\(hash).png?expires=\(expires)&sig=\(signature(hash, expires: expires))"
    }

    func signature(_ hash: String, expires: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(hash)|\(expires)".utf8), using: key)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    package enum Check: Equatable {
        case valid, expired, invalid, missing
    }

    package func check(_ hash: String, expires: String?, signature: String?, now: Date = Date()) -> Check {
        guard let expires, let signature else { return .missing }
        guard let seconds = Int64(expires) else { return .invalid }
        let expected = self.signature(hash, expires: seconds)
        // Constant-time comparison: the signature is a secret until it matches.
        guard expected.utf8.count == signature.utf8.count,
            zip(expected.utf8, signature.utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0
        else { return .invalid }
        return seconds >= Int64(now.timeIntervalSince1970) ? .valid : .expired
    }
}
