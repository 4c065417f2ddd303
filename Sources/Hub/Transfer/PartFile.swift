import Core
import Foundation
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

    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        let fd = descriptor
        let path = self.path
        try await threads.runIfActive {
            try buffer.withUnsafeReadableBytes { bytes in
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
            // Start writing the range back to disk now (POSIX_FADV_DONTNEED starts writeback of
            // dirty pages without waiting for it), so the fsync before the rename has little left
            // to do, and a large download does not fill the page cache.
            _ = posix_fadvise(fd, off_t(offset), off_t(buffer.readableBytes), POSIX_FADV_DONTNEED)
        }
    }

    func read(count: Int, at offset: Int64) async throws -> ByteBuffer {
        let fd = descriptor
        let path = self.path
        return try await threads.runIfActive {
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
                var done = 0
                while done < count {
                    let result = pread(fd, pointer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                    if result < 0 {
                        if errno == EINTR { continue }
                        throw FileError(path: path, operation: "read", code: errno)
                    }
                    if result == 0 { break }
                    done += result
                }
                return done
            }
            return buffer
        }
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
