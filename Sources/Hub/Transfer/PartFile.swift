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
/// Writes are positional, so concurrent writes to different ranges need no lock. The blocking calls
/// run on NIO's thread pool, except the ranged download's block writes, which run on the download's
/// own executor (`DownloadExecutor`); none runs on an event loop or Swift's shared pool.
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

    /// Writes `chunks` (the network's buffers for one block, in order) at `offset` with one
    /// `pwritev`, on the calling thread: no copy into a block buffer first, one system call per
    /// block. Call it from the download's own executor (`DownloadExecutor`), never the shared pool.
    func write(chunks: [ByteBuffer], at offset: Int64) throws {
        var vectors: [iovec] = []
        vectors.reserveCapacity(chunks.count)
        let fd = descriptor
        try Self.withVectors(chunks[...], into: &vectors) { vectors in
            try Self.writeAll(fd, &vectors, at: offset, path: path)
        }
    }

    /// Hashes `count` bytes at `offset` into `state` straight from the page cache (a read-only
    /// mapping: no copy), then starts writing that range back to disk and lets the cache drop it
    /// (POSIX_FADV_DONTNEED on dirty pages starts their writeback), so the fsync before the rename
    /// has little left to do. `inspect` sees the bytes first (the check of a file's leading bytes).
    /// The mapping cannot fault (SIGBUS) on a short file: the part file was sized to the whole
    /// download before any block was written, and nothing else truncates it.
    func hash(
        _ state: NIOLockedValueBox<SHA256>,
        count: Int,
        at offset: Int64,
        inspect: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void = { _ in }
    ) async throws {
        guard count > 0 else { return }
        let fd = descriptor
        let path = self.path
        try await threads.runIfActive {
            let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
            let start = offset - offset % page
            let length = Int(offset - start) + count
            guard let mapped = mmap(nil, length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off_t(start)),
                mapped != UnsafeMutableRawPointer(bitPattern: -1)
            else { throw FileError(path: path, operation: "map", code: errno) }
            defer { munmap(mapped, length) }
            let bytes = UnsafeRawBufferPointer(start: mapped + Int(offset - start), count: count)
            _ = madvise(mapped, length, MADV_SEQUENTIAL)
            try inspect(bytes)
            state.withLockedValue { $0.update(bufferPointer: bytes) }
            _ = posix_fadvise(fd, off_t(offset), off_t(count), POSIX_FADV_DONTNEED)
        }
    }

    /// Calls `body` with an iovec for each chunk, their storage kept alive meanwhile.
    private static func withVectors(
        _ chunks: ArraySlice<ByteBuffer>,
        into vectors: inout [iovec],
        _ body: (inout [iovec]) throws -> Void
    ) throws {
        guard let first = chunks.first else { return try body(&vectors) }
        try first.withUnsafeReadableBytes { bytes in
            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
            try withVectors(chunks.dropFirst(), into: &vectors, body)
        }
    }

    /// `pwritev` until every vector is written (a write may be short), at most IOV_MAX at a time.
    private static func writeAll(_ fd: Int32, _ vectors: inout [iovec], at offset: Int64, path: String) throws {
        var index = 0
        var position = off_t(offset)
        while index < vectors.count {
            let batch = min(vectors.count - index, 1024)
            let result = vectors.withUnsafeMutableBufferPointer { pointer in
                pwritev(fd, pointer.baseAddress! + index, Int32(batch), position)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "write", code: errno)
            }
            position += off_t(result)
            var written = result
            // Skip whole vectors written, and the written part of a partly written one.
            while written > 0 && index < vectors.count {
                if written >= vectors[index].iov_len {
                    written -= vectors[index].iov_len
                    index += 1
                } else {
                    vectors[index].iov_base += written
                    vectors[index].iov_len -= written
                    written = 0
                }
            }
            while index < vectors.count && vectors[index].iov_len == 0 { index += 1 }
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

    func sync() async throws {
        let fd = descriptor
        let path = self.path
        try await threads.runIfActive {
            guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync", code: errno) }
        }
    }

    /// Called once every write has returned (the download's tasks have all ended).
    func close() {
        _ = Glibc.close(descriptor)
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
