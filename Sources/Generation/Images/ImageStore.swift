import Atomics
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

/// Content-addressed image files: `images/ab/abcdef….png`, named by their SHA-256, and only
/// given their name once complete, so a reader never sees half an image (see `store`).
///
/// A job is never recorded as a success pointing at a file a power cut could empty: `put`
/// returns once the image is on disk for good, and the queue, which only writes its images
/// (`writeFile`), calls `sync` in the batch that records the successes, before their rows (see
/// `JobStore.complete`), so a job waits once for both. Rather than one fsync per file (which,
/// done on the async executor's threads, also stalled every other task: it was the end-to-end
/// queue's bottleneck; and per file, even from 8 threads at once, it is ten times slower than one
/// sync here), concurrent callers share one file-system sync (`syncfs`) on a helper thread.
package struct ImageStore: Sendable {
    package let root: String
    private let syncs: GroupCommit<Int, Bool>
    /// Whether linking an unnamed file by its descriptor (`AT_EMPTY_PATH`) is allowed here; it
    /// needs CAP_DAC_READ_SEARCH (root has it), and is not tried again once refused.
    let linksByDescriptor = ManagedAtomic(true)

    package init(root: String) {
        self.root = root
        syncs = GroupCommit(maxBatch: 1024) { [root] requests in
            try await NIOThreadPool.singleton.runIfActive { try Self.syncFileSystem(containing: root) }
            return requests.map { _ in true }
        }
    }

    /// Stores `data` and returns its hash (lower-case hex) once the file is durable.
    package func put(_ data: Data) async throws -> String {
        let hash = try writeFile(data)
        try await sync()
        return hash
    }

    /// Makes every image written before the call durable (one `syncfs` shared by concurrent
    /// callers: a caller waits for the sync in progress, if any, then for one that started after
    /// it called).
    package func sync() async throws {
        _ = try await syncs.submit(0)
    }

    /// Stores `data` complete under its name and returns its hash (lower-case hex); durable only
    /// after a later `sync`.
    package func writeFile(_ data: Data) throws -> String {
        let hash = Hex.encode(SHA256.hash(data: data))
        let folder = self.folder(hash)
        let path = self.path(hash)
        do {
            try Self.store(data, at: path, in: folder, linksByDescriptor: linksByDescriptor)
        } catch let error as WriteError where error.code == ENOENT {
            // The first image in this folder: make the folder and try again.
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Self.store(data, at: path, in: folder, linksByDescriptor: linksByDescriptor)
        }
        return hash
    }

    package func get(_ hash: String) -> Data? {
        guard Self.isHash(hash) else { return nil }
        return FileManager.default.contents(atPath: path(hash))
    }

    /// Plain concatenation: NSString's path methods cost more than the rest of a small put.
    func folder(_ hash: String) -> String {
        root.hasSuffix("/") ? root + hash.prefix(2) : root + "/" + hash.prefix(2)
    }

    func path(_ hash: String) -> String {
        folder(hash) + "/" + hash + ".png"
    }

    package static func isHash(_ text: String) -> Bool {
        text.count == 64 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    struct WriteError: Error, CustomStringConvertible {
        var operation: String
        var code: Int32
        var description: String { "could not \(operation) an image file: \(String(cString: strerror(code)))" }
    }

    /// `AT_EMPTY_PATH` (Linux ABI, the same on every architecture): the C macro is only declared
    /// under `_GNU_SOURCE`, which Swift's Glibc module does not define.
    static let atEmptyPath: Int32 = 0x1000

    /// Puts `data` at `path` all at once (not synced: `syncFileSystem` does that for many files).
    ///
    /// On Linux the bytes go to an unnamed file (`O_TMPFILE`) that is linked in when complete, so
    /// a crash mid-write leaves nothing behind, not even a temporary name. Elsewhere, on a file
    /// system without unnamed files, or when the image is already there, they go to a temporary
    /// name that is renamed into place.
    static func store(_ data: Data, at path: String, in folder: String, linksByDescriptor: ManagedAtomic<Bool>) throws {
        #if os(Linux)
        // O_TMPFILE is `__O_TMPFILE | O_DIRECTORY`; the C macro is not imported, and O_DIRECTORY's
        // value differs between architectures, so it is composed here.
        let unnamed = open(folder, O_WRONLY | O_CLOEXEC | O_DIRECTORY | 0o20000000, 0o644)
        if unnamed >= 0 {
            defer { close(unnamed) }
            try fill(unnamed, with: data)
            // By the descriptor when allowed (a fifth of the cost of a small image: no lookup of
            // the /proc name), else by the /proc name, which needs no privilege. Refused, the
            // first gives ENOENT (no capability) or EINVAL (a kernel without it). Without /proc,
            // the named way below is taken.
            if linksByDescriptor.load(ordering: .relaxed) {
                if linkat(unnamed, "", AT_FDCWD, path, Self.atEmptyPath) == 0 { return }
                if errno == ENOENT || errno == EINVAL || errno == EPERM { linksByDescriptor.store(false, ordering: .relaxed) }
            }
            if linkat(AT_FDCWD, "/proc/self/fd/\(unnamed)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 { return }
            // EEXIST: the image is already there. It is replaced all the same (below), as the
            // rename always did: a file that a crash emptied before its sync heals on the next put.
        } else if errno == ENOENT {
            // The folder does not exist yet (any other error: no unnamed files on this file system).
            throw WriteError(operation: "create", code: ENOENT)
        }
        #endif
        let temporary = path + ".\(RandomToken.base62(8)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(operation: "create", code: errno) }
        defer { close(fd) }
        do {
            try fill(fd, with: data)
            guard rename(temporary, path) == 0 else { throw WriteError(operation: "rename", code: errno) }
        } catch {
            // A disk that filled up mid-write leaves no partial file behind.
            unlink(temporary)
            throw error
        }
    }

    static func fill(_ fd: Int32, with data: Data) throws {
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
