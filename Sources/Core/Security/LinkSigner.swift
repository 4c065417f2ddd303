import Crypto
import Foundation

/// Links that work without credentials until they expire: an HMAC over what the link names and
/// its expiry (Unix seconds), with a key derived from the server's master secret for one purpose,
/// so a signature made for an image cannot open a model file.
package struct LinkSigner: Sendable {
    let key: SymmetricKey

    /// `purpose` separates the keys of different kinds of links (HKDF's `info`).
    package init(masterSecret: Secret, purpose: String) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(masterSecret.value.utf8)),
            info: Data(purpose.utf8),
            outputByteCount: 32
        )
    }

    /// URL-safe base64 of the HMAC, without padding.
    package func signature(_ subject: String, expires: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(subject)|\(expires)".utf8), using: key)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    package enum Check: Equatable, Sendable {
        case valid, expired, invalid, missing
    }

    /// Whether a link's `expires` and signature (as found in its query) are this subject's.
    package func check(_ subject: String, expires: String?, signature: String?, now: Date = Date()) -> Check {
        guard let expires, let signature else { return .missing }
        guard let seconds = Int64(expires) else { return .invalid }
        guard ConstantTime.equal(self.signature(subject, expires: seconds), signature) else { return .invalid }
        return seconds >= Int64(now.timeIntervalSince1970) ? .valid : .expired
    }
}
