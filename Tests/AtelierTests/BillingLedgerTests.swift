import Billing
import Core
import Foundation
import SQLKit
import Testing

/// The token ledger under concurrency and replays, on SQLite and PostgreSQL: a balance never goes
/// below zero, an external event credits once, a job settles once.
@Suite("Billing: the token ledger", .timeLimit(.minutes(3)))
struct BillingLedgerTests {
    /// The ledger's sum for an account, which the balance row must equal.
    static func ledgerSum(_ app: TestApp, _ account: String) async throws -> Int64 {
        let row = try await app.runtime.database.sql.raw(
            "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS total FROM token_ledger WHERE account_id = \(bind: account)"
        ).first()
        return try row?.decode(column: "total", as: Int64.self) ?? 0
    }

    @Test("1,000 concurrent spends of one token on a balance of 100: exactly 100 succeed and the balance never goes below 0")
    func concurrentSpends() async throws {
        try await TestApp.run { app in
            let ledger = TokenLedger(database: app.runtime.database)
            _ = try await ledger.credit("tg:5", tokens: 100, kind: "grant", reason: "welcome", externalKey: "welcome:tg:5")
            let outcomes = await withTaskGroup(of: Int.self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        do {
                            _ = try await ledger.reserve("tg:5", tokens: 1, job: "gen_\(index)", reason: "a photo")
                            return 1
                        } catch let error as AppError {
                            return error.status.code == 402 && error.detail.contains("not enough tokens") ? 0 : -1_000_000
                        } catch {
                            return -1_000_000
                        }
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(outcomes == 100, "successful spends (a negative sum means another error)")
            let balance = try await ledger.balance("tg:5")
            #expect(balance == TokenLedger.Balance(available: 0, reserved: 100, spent: 0))
            #expect(try await Self.ledgerSum(app, "tg:5") == 0)
        }
    }

    @Test("a payment's credit replayed 100 times at once is credited once")
    func replayedCredit() async throws {
        try await TestApp.run { app in
            let ledger = TokenLedger(database: app.runtime.database)
            let results = await withTaskGroup(of: String.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        switch try? await ledger.credit("tg:7", tokens: 250, kind: "purchase", reason: "Stars", externalKey: "stars:stxCHARGE") {
                        case .done: "done"
                        case .duplicate: "duplicate"
                        case nil: "error"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(results.filter { $0 == "done" }.count == 1)
            #expect(results.filter { $0 == "duplicate" }.count == 99)
            let balance = try await ledger.balance("tg:7")
            let sum = try await Self.ledgerSum(app, "tg:7")
            #expect(balance.available == 250 && sum == 250)
        }
    }

    @Test("50 different debits at once on a balance of 100 take exactly 100, none fails, and the ledger sums to the balance")
    func concurrentDebits() async throws {
        try await TestApp.run { app in
            let ledger = TokenLedger(database: app.runtime.database)
            _ = try await ledger.credit("tg:9", tokens: 100, kind: "purchase", reason: "Stars", externalKey: "stars:stxDEBIT")
            // Each refund asks for 3 tokens: 33 get 3, one gets the last 1, the rest get nothing.
            let failures = await withTaskGroup(of: Int64.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        do {
                            let outcome = try await ledger.debit(
                                "tg:9",
                                tokens: 3,
                                kind: "refund",
                                reason: "refund \(index)",
                                externalKey: "refund:stars:\(index)"
                            )
                            guard case .done = outcome else { return -1_000_000 }
                            return 0
                        } catch {
                            return -1_000_000
                        }
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(failures == 0, "every debit succeeds (a negative sum means one failed or was called a duplicate)")
            let balance = try await ledger.balance("tg:9")
            #expect(balance.available == 0)
            #expect(try await Self.ledgerSum(app, "tg:9") == 0, "the ledger's rows sum to what is left")
            let rows = try await app.runtime.database.sql.raw(
                "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS total FROM token_ledger WHERE account_id = 'tg:9' AND kind = 'refund'"
            ).first()
            #expect(try rows?.decode(column: "total", as: Int64.self) == -100, "exactly the 100 tokens there were are taken")
        }
    }

    @Test("a job's reservation is captured or refunded once, never both, also when both race")
    func settleOnce() async throws {
        try await TestApp.run { app in
            let ledger = TokenLedger(database: app.runtime.database)
            _ = try await ledger.credit("tg:9", tokens: 50, kind: "grant", reason: "test", externalKey: nil)
            #expect(
                try await ledger.reserve("tg:9", tokens: 10, job: "gen_a", reason: "photo") == .done(.init(available: 40, reserved: 10, spent: 0))
            )
            #expect(
                try await ledger.reserve("tg:9", tokens: 10, job: "gen_a", reason: "photo")
                    == .duplicate(.init(available: 40, reserved: 10, spent: 0))
            )
            #expect(try await ledger.capture("tg:9", job: "gen_a") == .done(.init(available: 40, reserved: 0, spent: 10)))
            #expect(try await ledger.refund("tg:9", job: "gen_a") == .duplicate(.init(available: 40, reserved: 0, spent: 10)))

            _ = try await ledger.reserve("tg:9", tokens: 5, job: "gen_b", reason: "photo")
            let settled = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let outcome =
                            try? await (index.isMultiple(of: 2) ? ledger.capture("tg:9", job: "gen_b") : ledger.refund("tg:9", job: "gen_b"))
                        if case .done = outcome { return true }
                        return false
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(settled == 1)
            let balance = try await ledger.balance("tg:9")
            #expect(balance.reserved == 0 && balance.available + balance.spent == 50)
            #expect(try await Self.ledgerSum(app, "tg:9") == balance.available)

            await #expect(throws: AppError.self) { _ = try await ledger.reserve("tg:9", tokens: 1_000, job: "gen_c", reason: "photo") }
            #expect(try await ledger.capture("tg:9", job: "gen_c") == .duplicate(balance), "a refused reservation leaves nothing to settle")
            // Someone who never had tokens cannot spend any.
            await #expect(throws: AppError.self) { _ = try await ledger.reserve("tg:nobody", tokens: 1, job: "gen_d", reason: "photo") }
            #expect(try await ledger.balance("tg:nobody") == .zero)
        }
    }
}
