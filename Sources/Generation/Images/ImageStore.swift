import Core
import Crypto
import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc

/// glibc's `syncfs(2)`. It is declared only under `_GNU_SOURCE`, which Swift's Glibc module
/// does not define, so it is bound by its (stable, public) C symbol name.
@_silgen_name("syncfs")
private func syncfs(_ fd: Int32) -> Int32
#elseif canImport(Darwin)
import Darwin
#endif

/// Content-addressed image files: `images/ab/abcdef….png`, named by their SHA-256, written via a
/// temporary file and rename so a reader never sees half an image.
///
/// `put` returns once the image is on disk for good, so a job is never recorded as a success
/// pointing at a file a power cut could empty. Rather than one fsync per file (which, done on
/// the async executor's threads, also stalled every other task: it was the end-to-end queue's
/// bottleneck), concurrent puts share one file-system sync (`syncfs`) on a helper thread.
public struct ImageStore: Sendable {
    public let root: String
    private let syncs: GroupCommit<Int, Bool>

    public init(root: String) {
        self.root = root
        syncs = GroupCommit(maxBatch: 1024) { [root] requests in
            try await NIOThreadPool.singleton.runIfActive { try Self.syncFileSystem(containing: root) }
            return requests.map { _ in true }
        }
    }

    /// Stores `data` and returns its hash (lower-case hex) once the file is durable.
    public func put(_ data: Data) async throws -> String {
        let hash = Hex.encode(SHA256.hash(data: data))
        let path = self.path(hash)
        // No existence check first: an image already stored is simply replaced by the same bytes
        // (rename is atomic), which costs less than a stat on every new one.
        let temporary = path + ".\(RandomToken.base62(8)).tmp"
        do {
            try Self.createFile(temporary, with: data)
        } catch {
            // The first image in this folder: make the folder and try again.
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Self.createFile(temporary, with: data)
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw AppError(.internalServerError, "could not store an image")
        }
        _ = try await syncs.submit(0)
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

    struct WriteError: Error, CustomStringConvertible {
        var operation: String
        var code: Int32
        var description: String { "could not \(operation) an image file: \(String(cString: strerror(code)))" }
    }

    /// A new file with `data` (not synced: `syncFileSystem` does that for many files at once).
    static func createFile(_ path: String, with data: Data) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(operation: "create", code: errno) }
        defer { close(fd) }
        do {
            try data.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw WriteError(operation: "write", code: errno)
                    }
                    offset += written
                }
            }
        } catch {
            // A disk that filled up mid-write leaves no partial file behind.
            unlink(path)
            throw error
        }
    }

    /// Makes every file written (and renamed) under `root` so far durable.
    static func syncFileSystem(containing root: String) throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw WriteError(operation: "open the folder of", code: errno) }
        defer { close(fd) }
        #if canImport(Glibc)
        guard syncfs(fd) == 0 else { throw WriteError(operation: "sync", code: errno) }
        #else
        guard fsync(fd) == 0 else { throw WriteError(operation: "sync", code: errno) }
        #endif
    }
}
