import Core
import Foundation

/// Signed links to a catalog entry's file on this server, for the GPU nodes of the fleet: a file
/// that exists only here (a LoRA trained for someone) has no Civitai or Hugging Face address a
/// node could pull it from, so the controller hands the node one of these instead. The link names
/// the entry and its file, works without credentials until it expires, and carries the file's
/// SHA-256 in its fragment (never sent to the server), which the node's pull checks.
package struct CatalogFileLinks: Sendable {
    let signer: LinkSigner
    /// How long a link works: long enough for a node that is busy or restarting to fetch it.
    package let lifetimeSeconds: Int64

    package init(masterSecret: Secret, lifetimeSeconds: Int64 = 86_400) {
        signer = LinkSigner(masterSecret: masterSecret, purpose: "atelier catalog file links")
        self.lifetimeSeconds = lifetimeSeconds
    }

    static let prefix = "/api/v1/catalog/files/"

    /// `/api/v1/catalog/files/{id}/{file name}?expires=…&sig=…#sha256=…` (path and query only;
    /// the caller puts the public base in front).
    package func path(for entry: CatalogEntry, sha256: String?, now: Date = Date()) -> String {
        let name = Self.fileName(entry)
        let expires = Int64(now.timeIntervalSince1970) + lifetimeSeconds
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? name
        var path =
            Self.prefix + entry.id + "/" + encoded + "?expires=\(expires)&sig=\(signer.signature(Self.subject(entry.id, name), expires: expires))"
        if let sha256 { path += "#sha256=\(sha256)" }
        return path
    }

    package func check(id: String, name: String, expires: String?, signature: String?, now: Date = Date()) -> LinkSigner.Check {
        signer.check(Self.subject(id, name), expires: expires, signature: signature, now: now)
    }

    static func subject(_ id: String, _ name: String) -> String { "\(id)/\(name)" }

    static func fileName(_ entry: CatalogEntry) -> String { (entry.path as NSString).lastPathComponent }
}
