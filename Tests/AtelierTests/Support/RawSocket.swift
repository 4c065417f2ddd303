import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP client for what an HTTP client library will not do: send half a request, hold a
/// connection idle, open hundreds of them. Blocking calls run on a thread of their own, never on
/// the test's cooperative pool (which the server under test shares).
final class RawSocket: Sendable {
    let descriptor: Int32

    /// Connects to 127.0.0.1:`port` from `source` (any address of 127.0.0.0/8 is this machine).
    init(port: Int, from source: String = "127.0.0.1") throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        _ = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    func send(_ text: String) {
        _ = text.withCString { Glibc.send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Waits up to `timeout` for the server to close the connection; true when it did.
    func waitForClose(timeout: Duration) async -> Bool {
        await read(timeout: timeout).closed
    }

    /// Reads what the server sends until it closes the connection or `timeout` passes.
    func read(timeout: Duration) async -> (closed: Bool, text: String) {
        let fd = descriptor
        let millis = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(Double(millis) / 1000)
                var buffer = [UInt8](repeating: 0, count: 4096)
                var received: [UInt8] = []
                func finish(_ closed: Bool) { continuation.resume(returning: (closed, String(decoding: received, as: UTF8.self))) }
                while true {
                    let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
                    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&poller, 1, left) > 0 else { return finish(false) }
                    let count = recv(fd, &buffer, buffer.count, 0)
                    if count == 0 || (count < 0 && errno == ECONNRESET) { return finish(true) }
                    if count < 0 { return finish(false) }
                    received += buffer[0..<count]
                }
            }
        }
    }
}
