import Core
import Crypto
import Foundation

/// Content-addressed image files: `images/ab/abcdef….png`, named by their SHA-256, written via a
/// temporary file and rename so a reader never sees half an image.
public struct ImageStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// Stores `data` and returns its hash (lower-case hex).
    public func put(_ data: Data) throws -> String {
        let hash = Hex.encode(SHA256.hash(data: data))
        let path = self.path(hash)
        if FileManager.default.fileExists(atPath: path) { return hash }
        let temporary = path + ".\(RandomToken.base62(8)).tmp"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
        } catch {
            // The first image in this folder: make the folder and try again.
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: temporary))
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw AppError(.internalServerError, "could not store an image")
        }
        return hash
    }

    public func get(_ hash: String) -> Data? {
        guard Self.isHash(hash) else { return nil }
        return FileManager.default.contents(atPath: path(hash))
    }

    func path(_ hash: String) -> String {
        (root as NSString).appendingPathComponent("\(hash.prefix(2))/\(hash).png")
    }

    public static func isHash(_ text: String) -> Bool {
        text.count == 64 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
