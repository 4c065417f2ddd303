import Core
import Foundation

/// URLs of stored images. With public images (the default; a SHA-256 cannot be guessed) a URL is
/// `/images/HASH.png`; otherwise it carries an expiry and an HMAC (`?expires=…&sig=…`) and the
/// image route checks them. Signed links for sharing work in both modes.
package struct ImageLinks: Sendable {
    let signer: LinkSigner
    /// Serve `/images/HASH.png` to anyone who has the hash.
    package let publicImages: Bool
    /// How long the signed URLs in API answers stay valid.
    package let lifetimeSeconds: Int64

    package init(masterSecret: Secret, publicImages: Bool, lifetimeSeconds: Int64) {
        signer = LinkSigner(masterSecret: masterSecret, purpose: "atelier image links")
        self.publicImages = publicImages
        self.lifetimeSeconds = lifetimeSeconds
    }

    /// The URL API answers show for an image.
    package func url(_ hash: String, now: Date = Date()) -> String {
        publicImages ? "/images/\(hash).png" : signed(hash, expires: Int64(now.timeIntervalSince1970) + lifetimeSeconds)
    }

    /// A URL that works until `expires` (Unix seconds), whether images are public or not.
    package func signed(_ hash: String, expires: Int64) -> String {
        "/images/\(hash).png?expires=\(expires)&sig=\(signer.signature(hash, expires: expires))"
    }

    package typealias Check = LinkSigner.Check

    package func check(_ hash: String, expires: String?, signature: String?, now: Date = Date()) -> Check {
        signer.check(hash, expires: expires, signature: signature, now: now)
    }
}
