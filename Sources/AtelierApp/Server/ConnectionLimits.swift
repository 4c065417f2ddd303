import Core
import NIOCore
import Synchronization

/// What one server holds its connections to: a deadline for request headers, an idle deadline
/// for kept-alive connections, and a cap on the connections one client address may have open.
/// Without them one host can hold every file handle of the process (and /health stops
/// answering), or keep a connection by sending a header byte a second.
struct ConnectionLimits: Sendable {
    /// From a request's first byte to the end of its headers.
    var headerTimeout: TimeAmount
    /// A connection with no request in flight is closed after this long.
    var idleTimeout: TimeAmount
    /// Open connections per peer address; 0 = no cap. A reverse proxy is a peer like any other
    /// (its clients share its address): the setting's text says to raise the cap behind one.
    var maxPerAddress: Int
    let counter = ConnectionCounter()
}

/// Open connections per peer address, shared by every event loop of one server.
final class ConnectionCounter: Sendable {
    private let open = Mutex<[IPAddress: Int]>([:])

    /// Takes a slot for `address`, or returns false when it already holds `limit`.
    func acquire(_ address: IPAddress, limit: Int) -> Bool {
        open.withLock { counts in
            let current = counts[address, default: 0]
            guard current < limit else { return false }
            counts[address] = current + 1
            return true
        }
    }

    func release(_ address: IPAddress) {
        open.withLock { counts in
            let remaining = counts[address, default: 1] - 1
            counts[address] = remaining > 0 ? remaining : nil
        }
    }

    func count(_ address: IPAddress) -> Int { open.withLock { $0[address, default: 0] } }
}
