import Core
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The file a download writes into (`tmp/…/NAME.part`), written at offsets from several tasks.
/// `pwrite`/`pread` are positional, so concurrent writes to different ranges need no lock;
/// the blocking calls run on NIO's thread pool, off the event loops.
final class PartFile: Sendable {
    let path: String
    let descriptor: Int32
    let threads: NIOThreadPool

    init(path: String, threads: NIOThreadPool = .singleton) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", code: errno) }
        self.path = path
        self.descriptor = fd
        self.threads = threads
    }

    func size() throws -> Int64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileError(path: path, operation: "stat", code: errno) }
        return Int64(info.st_size)
    }

    func truncate(to size: Int64) throws {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw FileError(path: path, operation: "truncate", code: errno) }
    }

    /// Writes `buffer` at `offset` (the one-stream download, which hashes as it receives), then
    /// starts writing the range back to disk (POSIX_FADV_DONTNEED starts writeback of dirty pages
    /// without waiting), so the fsync before the rename has little left to do.
    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        let fd = descriptor
        let path = self.path
        try await threads.runIfActive {
            try buffer.withUnsafeReadableBytes { bytes in try Self.writeAll(fd, bytes, at: offset, path: path) }
            _ = posix_fadvise(fd, off_t(offset), off_t(buffer.readableBytes), POSIX_FADV_DONTNEED)
        }
    }

    /// Writes the block in `block` at `offset` and empties it for the next one. The buffer lives in
    /// a box its worker reuses for every block, so no block allocates (a fresh multi-MiB buffer per
    /// block costs a page fault per 4 KiB).
    func write(_ block: NIOLockedValueBox<ByteBuffer>, at offset: Int64) async throws {
        let fd = descriptor
        let path = self.path
        try await threads.runIfActive {
            try block.withLockedValue { buffer in
                try buffer.withUnsafeReadableBytes { bytes in try Self.writeAll(fd, bytes, at: offset, path: path) }
                buffer.clear()
            }
        }
    }

    /// Reads `count` bytes at `offset` into the hasher's reusable buffer and adds them to its
    /// SHA-256, then starts writing that range back to disk and lets the page cache drop it
    /// (POSIX_FADV_DONTNEED on dirty pages starts their writeback): the fsync before the rename has
    /// little left to do, and a large download does not fill the page cache. `inspect` sees the
    /// bytes first (the check of a file's leading bytes).
    func hash(
        _ state: NIOLockedValueBox<HashState>,
        count: Int,
        at offset: Int64,
        inspect: @escaping @Sendable (ByteBuffer) throws -> Void = { _ in }
    ) async throws {
        let fd = descriptor
        let path = self.path
        try await threads.runIfActive {
            try state.withLockedValue { state in
                state.buffer.clear()
                try state.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
                    try Self.readAll(fd, into: UnsafeMutableRawBufferPointer(rebasing: pointer[..<count]), at: offset, path: path)
                }
                try inspect(state.buffer)
                state.buffer.withUnsafeReadableBytes { state.sha.update(bufferPointer: $0) }
            }
            _ = posix_fadvise(fd, off_t(offset), off_t(count), POSIX_FADV_DONTNEED)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws {
        var written = 0
        while written < bytes.count {
            let result = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(offset) + off_t(written))
            if result < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "write", code: errno)
            }
            written += result
        }
    }

    /// Fills `pointer` from the file; a short file is an error (the part file was truncated to
    /// its full size, so every block exists).
    private static func readAll(_ fd: Int32, into pointer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws -> Int {
        var done = 0
        while done < pointer.count {
            let result = pread(fd, pointer.baseAddress! + done, pointer.count - done, off_t(offset) + off_t(done))
            if result < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "read", code: errno)
            }
            if result == 0 { throw FileError(path: path, operation: "read", code: EIO) }
            done += result
        }
        return done
    }

    func sync() async throws {
        let fd = descriptor
        let path = self.path
        try await threads.runIfActive {
            guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync", code: errno) }
        }
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}

/// The hasher's running SHA-256 and the buffer it reads the file into, reused for every range.
struct HashState: Sendable {
    var sha = SHA256()
    var buffer: ByteBuffer

    init(bufferSize: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: bufferSize)
    }
}

struct FileError: Error, CustomStringConvertible {
    var path: String
    var operation: String
    var code: Int32

    var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}

/// Free bytes on the filesystem holding `path` (for the free-space check before a download).
func freeSpace(at path: String) -> Int64? {
    var info = statvfs()
    guard statvfs(path, &info) == 0 else { return nil }
    return Int64(info.f_bavail) * Int64(info.f_frsize)
}
