// AsyncKit predates Sendable annotations. Its pools are safe to share: every operation hops onto
// the pool's own event loop (postgres-kit shares them across tasks the same way).
@preconcurrency import AsyncKit
import Logging
import NIOCore
import NIOPosix
import SQLiteKit
import SQLiteNIO

/// Opens SQLite connections with the settings a server needs: WAL (readers never block the
/// writer), a busy timeout (writers wait instead of failing with SQLITE_BUSY), foreign keys on,
/// and `synchronous=NORMAL`, which is durable across crashes of the process in WAL mode.
struct SQLiteSource: ConnectionPoolSource, Sendable {
    let path: String
    let busyTimeoutMillis: Int
    let threadPool: NIOThreadPool

    func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<SQLiteConnection> {
        SQLiteConnection.open(storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
            .flatMap { connection in
                let pragmas = [
                    "PRAGMA busy_timeout = \(busyTimeoutMillis)",
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                ]
                return pragmas.reduce(eventLoop.makeSucceededVoidFuture()) { future, pragma in
                    future.flatMap { connection.query(pragma).map { _ in } }
                }
                .map { connection }
                .flatMapError { error in connection.close().flatMapThrowing { throw error } }
            }
    }
}
