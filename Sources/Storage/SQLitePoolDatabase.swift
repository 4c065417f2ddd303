// AsyncKit predates Sendable annotations. Its pools are safe to share: every operation hops onto
// the pool's own event loop (postgres-kit shares them across tasks the same way).
@preconcurrency import AsyncKit
import Logging
import NIOCore
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

/// An `SQLDatabase` over a pool of SQLite connections: each query borrows a connection, and
/// `withSession` holds one connection for a whole transaction.
struct SQLitePoolDatabase: SQLDatabase {
    let pool: EventLoopGroupConnectionPool<SQLiteSource>
    let logger: Logger
    /// Statements running now: closing waits for them, because the pool closes a connection that
    /// comes back after its shutdown on the SQLite thread pool, which must still be running then.
    let running = RunningCount()

    var eventLoop: any EventLoop { pool.eventLoopGroup.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var version: (any SQLDatabaseReportedVersion)? { nil }
    var queryLogLevel: Logger.Level? { .trace }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        running.enter()
        let future = pool.withConnection(logger: logger) { connection in
            connection.sql(queryLogLevel: .trace).execute(sql: query, onRow)
        }
        future.whenComplete { [running] _ in running.leave() }
        return future
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        // The pool hands the connection out on its event loop; the closure runs as a task and the
        // connection returns to the pool when that task's future completes.
        running.enter()
        defer { running.leave() }
        let box = try await pool.withConnection(logger: logger) { connection in
            connection.eventLoop.makeFutureWithTask {
                UncheckedBox(value: try await closure(connection.sql(queryLogLevel: .trace)))
            }
        }.get()
        return box.value
    }
}

/// Carries a closure result through an `EventLoopFuture`, which requires `Sendable`.
/// Safe because the value is produced by the closure and handed back to the single caller that is
/// awaiting it; nothing else holds a reference to it in between.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
}

/// How many statements are running, and a wait until none is.
final class RunningCount: Sendable {
    private let count = Atomic<Int>(0)

    func enter() { count.wrappingAdd(1, ordering: .relaxed) }
    func leave() { count.wrappingSubtract(1, ordering: .relaxed) }

    /// Returns when nothing runs, or after `timeout` (a statement stuck on a lock held elsewhere
    /// must not hold a shutdown forever).
    func drained(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while count.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
