import Atomics
import Foundation

/// Computes speed and calls the progress callback; called from the ticker only.
final class ProgressReporter: Sendable {
    let total: Int64?
    let resumed: Int64
    /// Connections in use now (the tuner changes it).
    let connections: ManagedAtomic<Int>
    let received: ManagedAtomic<Int64>
    let hashed: ManagedAtomic<Int64>
    let callback: @Sendable (DownloadProgress) -> Void
    private let last = ManagedAtomic<Int64>(0)
    private let lastTime = ManagedAtomic<UInt64>(DispatchTime.now().uptimeNanoseconds)
    private let speedBits = ManagedAtomic<UInt64>(0)

    init(
        total: Int64?,
        resumed: Int64,
        connections: ManagedAtomic<Int>,
        received: ManagedAtomic<Int64>,
        hashed: ManagedAtomic<Int64>,
        callback: @escaping @Sendable (DownloadProgress) -> Void
    ) {
        self.total = total
        self.resumed = resumed
        self.connections = connections
        self.received = received
        self.hashed = hashed
        self.callback = callback
        self.last.store(resumed, ordering: .relaxed)
    }

    func emit() {
        let now = DispatchTime.now().uptimeNanoseconds
        let bytes = received.load(ordering: .relaxed)
        let previous = last.exchange(bytes, ordering: .relaxed)
        let then = lastTime.exchange(now, ordering: .relaxed)
        let seconds = Double(now - then) / 1e9
        var speed = Double(bitPattern: speedBits.load(ordering: .relaxed))
        if seconds > 0.05 {
            let instant = Double(bytes - previous) / seconds
            speed = speed == 0 ? instant : speed * 0.7 + instant * 0.3
            speedBits.store(speed.bitPattern, ordering: .relaxed)
        }
        callback(
            DownloadProgress(
                totalBytes: total,
                receivedBytes: bytes,
                hashedBytes: hashed.load(ordering: .relaxed),
                bytesPerSecond: speed,
                connections: connections.load(ordering: .relaxed),
                resumedBytes: resumed
            )
        )
    }
}
