import Testing

@testable import Hub

/// The pull engine's two decisions, without a network: which blocks each connection fetches (and
/// never two connections writing one block), and how many connections a download uses.
@Suite("Pull engine: block runs and the connection count")
struct BlockSchedulingTests {
    @Test("runs are handed out in file order, shorter as the file runs out; all received ends the claims")
    func runsInOrder() async throws {
        let scheduler = BlockScheduler(blockCount: 40, alreadyDone: Array(repeating: false, count: 40), maxRunBlocks: 8)
        await scheduler.setConnections(2)
        let first = try #require(await scheduler.claim(worker: 0))
        #expect(first == .init(first: 0, end: 8))  // 40 left / (2 × 2) = 10, bounded by 8
        let second = try #require(await scheduler.claim(worker: 1))
        #expect(second == .init(first: 8, end: 16))
        for index in 0..<16 {
            let worker = index < 8 ? 0 : 1
            #expect(await scheduler.commit(worker: worker, index) != nil)
            await scheduler.written(index)
        }
        var claimed = 16
        var lengths: [Int] = []
        while claimed < 40, let run = await scheduler.claim(worker: 0) {
            lengths.append(run.end - run.first)
            for index in run.first..<run.end {
                #expect(await scheduler.commit(worker: 0, index) == run.end)
                await scheduler.written(index)
            }
            claimed = run.end
        }
        #expect(lengths == [6, 4, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1])
        #expect(await scheduler.claim(worker: 1) == nil)
        #expect(try await scheduler.nextForHash(limit: 100) == 0..<40)
    }

    @Test("an idle connection takes the back half of the longest run; the owner stops at the new end")
    func stealsBackHalf() async throws {
        let scheduler = BlockScheduler(blockCount: 16, alreadyDone: Array(repeating: false, count: 16), maxRunBlocks: 16)
        await scheduler.setConnections(1)
        let long = try #require(await scheduler.claim(worker: 0))
        #expect(long == .init(first: 0, end: 8))  // 16 / (1 × 2)
        #expect(await scheduler.commit(worker: 0, 0) == 8)
        await scheduler.written(0)
        // A second connection joins and fetches everything still pending.
        await scheduler.setConnections(2)
        var run = try #require(await scheduler.claim(worker: 1))
        while run.first >= 8 {
            for index in run.first..<run.end {
                #expect(await scheduler.commit(worker: 1, index) != nil)
                await scheduler.written(index)
            }
            run = try #require(await scheduler.claim(worker: 1))
        }
        // Nothing pending: it takes the back half of worker 0's unreceived blocks 1..<8.
        #expect(run == .init(first: 4, end: 8))
        #expect(await scheduler.commit(worker: 0, 1) == 4)
        #expect(await scheduler.commit(worker: 0, 4) == nil)
        #expect(await scheduler.commit(worker: 1, 4) == 8)
    }

    @Test("a stuck connection's blocks are revoked: its commit is refused and another one fetches them")
    func revokesStuck() async throws {
        let scheduler = BlockScheduler(blockCount: 4, alreadyDone: [true, false, false, false], maxRunBlocks: 4)
        await scheduler.setConnections(2)
        let run = try #require(await scheduler.claim(worker: 0))
        #expect(run.first == 1)
        #expect(try await scheduler.nextForHash(limit: 4) == 0..<1)  // resumed block, ready to hash
        await scheduler.hashed(upTo: 1)
        #expect(await scheduler.blockingHasher == 0)
        await scheduler.revoke(worker: 0)
        let again = try #require(await scheduler.claim(worker: 1))
        #expect(again.first == 1)
        #expect(await scheduler.commit(worker: 0, 1) == nil)
        #expect(await scheduler.commit(worker: 1, 1) != nil)
    }

    @Test("a failed request gives its unwritten blocks back; a failure ends every claim")
    func abandonAndFail() async throws {
        let scheduler = BlockScheduler(blockCount: 4, alreadyDone: Array(repeating: false, count: 4), maxRunBlocks: 4)
        await scheduler.setConnections(1)
        let run = try #require(await scheduler.claim(worker: 0))
        #expect(await scheduler.commit(worker: 0, run.first) != nil)
        await scheduler.written(run.first)
        await scheduler.abandon(worker: 0)
        let retry = try #require(await scheduler.claim(worker: 0))
        #expect(retry.first == run.first + 1)
        await scheduler.fail(RangeDownloader.ShortPiece(expected: 1, got: 0))
        #expect(await scheduler.claim(worker: 0) == nil)
        await #expect(throws: RangeDownloader.ShortPiece.self) { try await scheduler.nextForHash(limit: 4) }
    }

    @Test("the tuner doubles connections while each doubling is ≥ 30% faster, and steps back when not")
    func tunerCappedAndUncapped() {
        // A CDN capping each connection at 25 MB/s: every doubling doubles the speed, up to 32.
        var capped = ConnectionTuner(fixed: nil)
        var bytes: Int64 = 0
        var now = 0.0
        while now < 5 {
            now += 0.05
            bytes += Int64(Double(capped.target) * 25e6 * 0.05)
            capped.observe(now: now, bytes: bytes)
        }
        #expect(capped.target == 32)
        #expect(capped.phase == .settled)

        // Uncapped on a busy CPU: 600 MB/s whatever the count; back to 8 after trying 16.
        var busy = ConnectionTuner(fixed: nil)
        bytes = 0
        now = 0
        var tried: Set<Int> = []
        while now < 5 {
            now += 0.05
            tried.insert(busy.target)
            bytes += Int64(600e6 * 0.05)
            busy.observe(now: now, bytes: bytes)
        }
        #expect(tried == [8, 16])
        #expect(busy.target == 8)

        let fixed = ConnectionTuner(fixed: 4)
        #expect(fixed.target == 4 && fixed.maximum == 4 && fixed.phase == .settled)
    }
}
