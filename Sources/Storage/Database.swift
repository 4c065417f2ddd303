// AsyncKit predates Sendable annotations. Its pools are safe to share: every operation hops onto
// the pool's own event loop (postgres-kit shares them across tasks the same way).
@preconcurrency import AsyncKit
import Core
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import SQLKit
import SQLiteKit

/// The database handle every feature uses: one SQLKit `SQLDatabase` over a connection pool, the
/// same queries on SQLite and PostgreSQL, and `transaction` that works the same on both.
package final class Database: Sendable {
    package let kind: DatabaseKind
    package let configuration: DatabaseConfiguration
    /// Pooled: each statement borrows a connection. Use `transaction` for several statements that
    /// must see each other or succeed together.
    package let sql: any SQLDatabase
    private let shutdownPool: @Sendable () async throws -> Void
    /// SQLite only: one transaction at a time per process (see `AsyncLock`).
    private let writerLock: AsyncLock?
    /// PostgreSQL only: for the dedicated LISTEN connection.
    private let postgres: SQLPostgresConfiguration?
    /// PostgreSQL only: the pool behind `sql`, for `postgresTransaction`.
    let postgresPool: EventLoopGroupConnectionPool<PostgresConnectionSource>?
    let logger: Logger

    private init(
        configuration: DatabaseConfiguration,
        sql: any SQLDatabase,
        logger: Logger,
        postgres: SQLPostgresConfiguration? = nil,
        postgresPool: EventLoopGroupConnectionPool<PostgresConnectionSource>? = nil,
        shutdownPool: @escaping @Sendable () async throws -> Void
    ) {
        self.kind = configuration.kind
        self.configuration = configuration
        self.sql = sql
        self.logger = logger
        self.postgres = postgres
        self.postgresPool = postgresPool
        self.shutdownPool = shutdownPool
        self.writerLock = configuration.kind == .sqlite ? AsyncLock() : nil
    }

    /// Opens a pool. Connections are made lazily; call `ping()` to fail fast on a bad URL.
    package static func open(
        _ configuration: DatabaseConfiguration,
        poolSize: Int = 4,
        logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws -> Database {
        switch configuration {
        case .sqlite(let path):
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(
                    atPath: directory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            }
            // The database holds the token signing key and every secret: only its owner may read
            // it. SQLite gives its -wal and -shm files the database file's mode.
            try PrivateFile.prepare(path)
            // SQLite calls block their thread (and may wait on the file lock held by another
            // process), so they get a thread pool of their own, with a thread per connection,
            // instead of sharing NIO's small default pool with bcrypt and file I/O.
            let connections = poolSize * System.coreCount
            let threads = NIOThreadPool(numberOfThreads: connections + 1)
            threads.start()
            let source = SQLiteSource(path: path, busyTimeoutMillis: 10_000, threadPool: threads)
            let pool = EventLoopGroupConnectionPool(
                source: source,
                maxConnectionsPerEventLoop: poolSize,
                requestTimeout: .seconds(30),
                logger: logger,
                on: eventLoopGroup
            )
            let database = SQLitePoolDatabase(pool: pool, logger: logger)
            return Database(
                configuration: configuration,
                sql: database,
                logger: logger,
                shutdownPool: {
                    await database.running.drained(timeout: .seconds(5))
                    try await pool.shutdownAsync()
                    try await threads.shutdownGracefully()
                }
            )
        case .postgres(let url, let schema):
            var postgres: SQLPostgresConfiguration
            do {
                postgres = try SQLPostgresConfiguration(url: url.value)
            } catch {
                throw ConfigurationError(
                    setting: "DATABASE_URL",
                    problem:
                        "not a PostgreSQL URL this server understands (postgres://user:password@host:port/database[?sslmode=disable|prefer|require])"
                )
            }
            if let schema { postgres.searchPath = [schema] }
            let pool = EventLoopGroupConnectionPool(
                source: PostgresConnectionSource(sqlConfiguration: postgres),
                maxConnectionsPerEventLoop: poolSize,
                requestTimeout: .seconds(30),
                logger: logger,
                on: eventLoopGroup
            )
            return Database(
                configuration: configuration,
                sql: pool.database(logger: logger).sql(queryLogLevel: .trace),
                logger: logger,
                postgres: postgres,
                postgresPool: pool,
                shutdownPool: { try await pool.shutdownAsync() }
            )
        }
    }

    /// Runs `body` inside one transaction on one connection; commits when it returns, rolls back
    /// when it throws. On SQLite the transaction takes the write lock up front (`BEGIN IMMEDIATE`)
    /// so two writers queue instead of failing half-way with SQLITE_BUSY.
    package func transaction<T: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> T
    )
        async throws -> T
    {
        if let writerLock {
            return try await writerLock.withLock { try await self.run(transaction: "BEGIN IMMEDIATE", body) }
        }
        return try await run(transaction: "BEGIN", body)
    }

    private func run<T: Sendable>(
        transaction begin: String,
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> T
    )
        async throws -> T
    {
        try await sql.withSession { session in
            try await session.raw(SQLQueryString(begin)).run()
            do {
                let result = try await body(session)
                try await session.raw("COMMIT").run()
                return result
            } catch {
                try? await session.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// The NOTIFY channel for `name`, distinct per schema so installations sharing one PostgreSQL
    /// database (tests, staging) do not wake each other.
    package func channel(_ name: String) -> String {
        guard case .postgres(_, let schema?) = configuration else { return "atelier_\(name)" }
        return "atelier_\(name)_" + String(schema.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }.prefix(40))
    }

    /// PostgreSQL: calls `onNotify` once connected and then for every NOTIFY on `channel`, until
    /// the calling task is cancelled; a lost connection is reopened after a pause. SQLite: returns
    /// at once (there is nothing to listen to; workers poll).
    package func listen(on channel: String, logger: Logger, onNotify: @escaping @Sendable () async -> Void) async {
        guard let postgres else { return }
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: postgres.coreConfiguration, id: 0, logger: logger)
                var failure: (any Error)?
                do {
                    try await connection.listen(on: channel) { notifications in
                        await onNotify()  // catch up on anything sent while (re)connecting
                        for try await _ in notifications { await onNotify() }
                    }
                } catch {
                    failure = error
                }
                try? await connection.close()
                if let failure, !Task.isCancelled { throw failure }
            } catch {
                if Task.isCancelled { return }
                logger.notice(
                    "LISTEN connection lost; workers poll until it is back",
                    metadata: ["error": "\(String(describing: error).prefix(200))"]
                )
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// True when a trivial query succeeds; used by `/health`.
    package func ping() async -> Bool {
        do {
            try await sql.raw("SELECT 1 AS one").run()
            return true
        } catch {
            return false
        }
    }

    package func close() async {
        try? await shutdownPool()
    }
}
