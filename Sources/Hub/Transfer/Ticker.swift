import Atomics
import Foundation

/// A ranged download's clock, every 50 ms: feeds the connection tuner, takes the blocks of a
/// connection that has received nothing for `hedgeAfter` while the hasher waits on it, and every
/// 200 ms reports progress and saves the resume sidecar.
struct Ticker: Sendable {
    let tuner: ConnectionTuner
    let fetch: RunFetch
    let report: ProgressReporter
    let connectionsNow: ManagedAtomic<Int>
    let hedgeAfter: Duration
    let resumedBytes: Int64
    let sidecar: ResumeState
    let sidecarPath: String

    func run() async {
        var tuner = self.tuner
        let scheduler = fetch.scheduler
        let started = DispatchTime.now().uptimeNanoseconds
        // Doubled after each revocation (up to a minute): a CDN slow to answer every request
        // would otherwise see a new request for the same blocks every `hedgeAfter`.
        var hedgeNanos = UInt64(hedgeAfter.components.seconds) * 1_000_000_000 + UInt64(hedgeAfter.components.attoseconds / 1_000_000_000)
        var ticks = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(50))
            ticks += 1
            let now = DispatchTime.now().uptimeNanoseconds
            let before = tuner.target
            tuner.observe(now: Double(now - started) / 1e9, bytes: fetch.received.load(ordering: .relaxed) - resumedBytes)
            if tuner.target != before {
                fetch.downloader.logger.debug(
                    "connections \(before) → \(tuner.target)",
                    metadata: ["file": "\(fetch.name)", "rates": "\(tuner.rates.map { "\($0.connections): \(Int($0.rate / 1e6)) MB/s" })"]
                )
                connectionsNow.store(tuner.target, ordering: .relaxed)
                await scheduler.setConnections(tuner.target)
            }
            if let stuck = await scheduler.blockingHasher, now &- fetch.lastReceived[stuck].load(ordering: .relaxed) > hedgeNanos {
                fetch.lastReceived[stuck].store(now, ordering: .relaxed)
                await scheduler.revoke(worker: stuck)
                hedgeNanos = min(hedgeNanos * 2, 60_000_000_000)
            }
            guard ticks % 4 == 0 else { continue }
            report.emit()
            if await scheduler.changedSinceSave {
                await scheduler.markSaved()
                var snapshot = sidecar
                snapshot.pieces = String((await scheduler.doneMap).map { $0 ? "1" : "0" })
                try? snapshot.save(sidecarPath)
            }
        }
    }
}
