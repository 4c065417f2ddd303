import Crypto
import Foundation

/// Encrypts secrets stored in the database (node tokens, provider keys) with AES-GCM under a key
/// derived from the installation's signing secret, so a copy of the database alone does not reveal
/// them. Changing the signing secret makes stored secrets unreadable (they must be entered again).
package struct SecretBox: Sendable {
    let key: SymmetricKey

    package init(masterSecret: Secret, purpose: String) {
        let material = SymmetricKey(data: Data(masterSecret.value.utf8))
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Data("atelier:\(purpose)".utf8), outputByteCount: 32)
    }

    /// base64 of nonce ‖ ciphertext ‖ tag.
    package func seal(_ secret: Secret) throws -> String {
        let box = try AES.GCM.seal(Data(secret.value.utf8), using: key)
        guard let combined = box.combined else { throw SecretBoxError() }
        return combined.base64EncodedString()
    }

    package func open(_ sealed: String) throws -> Secret {
        guard let data = Data(base64Encoded: sealed) else { throw SecretBoxError() }
        let plain = try AES.GCM.open(try AES.GCM.SealedBox(combined: data), using: key)
        return Secret(String(decoding: plain, as: UTF8.self))
    }

    package struct SecretBoxError: Error, CustomStringConvertible {
        package var description: String { "a stored secret cannot be read (was the signing secret changed?); enter it again" }
    }
}
