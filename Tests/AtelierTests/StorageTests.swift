import AtelierApp
import Core
import Foundation
import Logging
import PostgresKit
import SQLKit
import Storage
import Testing

/// Runs against the database this test run is for (SQLite or PostgreSQL, see TestDatabase).
@Suite("Storage: migrations and transactions", .timeLimit(.minutes(5)))
struct StorageTests {
    /// A fresh, migrated database for one test.
    static func withDatabase(_ body: @Sendable (Database, [String: String]) async throws -> Void) async throws {
        let settings = try TestDatabase.settings(dataDir: TestDatabase.temporaryDirectory())
        let config = try AppConfig.from(settings)
        let database = try Database.open(config.database, logger: Logger(label: "test"))
        do {
            try await body(database, settings)
        } catch {
            await database.close()
            await TestDatabase.cleanUp(settings)
            throw error
        }
        await database.close()
        await TestDatabase.cleanUp(settings)
    }

    static let sample = [
        Migration("test/001_things", ["CREATE TABLE things (id TEXT PRIMARY KEY, n BIGINT NOT NULL)"]),
        Migration("test/002_more", ["ALTER TABLE things ADD COLUMN label TEXT"]),
    ]

    @Test("migrations apply once, in order, and a second run applies nothing")
    func idempotent() async throws {
        try await Self.withDatabase { database, _ in
            let migrator = Migrator(database: database, logger: Logger(label: "test"))
            #expect(try await migrator.migrate(Self.sample) == ["test/001_things", "test/002_more"])
            #expect(try await migrator.migrate(Self.sample) == [])
            #expect(try await migrator.appliedIDs() == ["test/001_things", "test/002_more"])
            try await database.sql.raw("INSERT INTO things (id, n, label) VALUES ('a', 1, 'x')").run()
        }
    }

    @Test("a failing migration leaves nothing half-applied")
    func failingMigration() async throws {
        try await Self.withDatabase { database, _ in
            let migrator = Migrator(database: database, logger: Logger(label: "test"))
            let first = try await migrator.migrate(Self.sample)
            #expect(first.count == 2)
            let broken =
                Self.sample + [
                    Migration("test/003_other", ["CREATE TABLE other (id TEXT PRIMARY KEY)"]),
                    Migration("test/004_broken", ["INSERT INTO other (id) VALUES ('x')", "THIS IS NOT SQL"]),
                ]
            await #expect(throws: (any Error).self) { try await migrator.migrate(broken) }
            // The run was one transaction: neither new migration is recorded, nor is its table left.
            let applied = try await migrator.appliedIDs()
            #expect(applied == ["test/001_things", "test/002_more"])
            await #expect(throws: (any Error).self) { try await database.sql.raw("SELECT id FROM other").run() }
        }
    }

    @Test("concurrent migrators (separate pools, as separate processes have) apply each migration once")
    func concurrentMigrators() async throws {
        try await Self.withDatabase { database, settings in
            let config = try AppConfig.from(settings)
            let results = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let other = try Database.open(config.database, poolSize: 1, logger: Logger(label: "test"))
                        let result = await Result { try await Migrator(database: other, logger: Logger(label: "test")).migrate(AllMigrations.list) }
                        await other.close()
                        return try result.get()
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.flatMap { $0 }.count == AllMigrations.list.count)
            #expect(results.filter { !$0.isEmpty }.count == 1)
            let rows = try await database.sql.raw("SELECT COUNT(*) AS n FROM atelier_migrations").first()?
                .decode(column: "n", as: Int.self)
            #expect(rows == AllMigrations.list.count)
        }
    }

    @Test("a transaction commits on success and rolls back on error")
    func transactions() async throws {
        try await Self.withDatabase { database, _ in
            try await Migrator(database: database, logger: Logger(label: "test")).migrate(Self.sample)
            try await database.transaction { db in
                try await db.raw("INSERT INTO things (id, n) VALUES ('kept', 1)").run()
            }
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await database.transaction { db in
                    try await db.raw("INSERT INTO things (id, n) VALUES ('lost', 2)").run()
                    throw Boom()
                }
            }
            let ids = try await database.sql.raw("SELECT id FROM things ORDER BY id").all().map {
                try $0.decode(column: "id", as: String.self)
            }
            #expect(ids == ["kept"])
        }
    }

    @Test("PostgreSQL's direct path: SQLKit statements with text, number and nil binds, rows decoded by type, rollback on error")
    func postgresDirect() async throws {
        try await Self.withDatabase { database, _ in
            try await Migrator(database: database, logger: Logger(label: "test")).migrate(Self.sample)
            guard database.kind == .postgres else {
                await #expect(throws: (any Error).self) { try await database.postgresTransaction { _, _ in 1 } }
                return
            }
            let label: String? = nil
            let rows = try await database.postgresTransaction { connection, logger in
                for (id, n) in [("a", Int64(7)), ("b", Int64(-3))] {
                    try await connection.query(
                        try database.postgresQuery(
                            "INSERT INTO things (id, n, label) VALUES (\(bind: id), \(bind: n), \(bind: label))" as SQLQueryString
                        ),
                        logger: logger
                    )
                }
                var read: [(String, Int64, String?)] = []
                let query = try database.postgresQuery(
                    "SELECT id, n + \(bind: 1), label FROM things WHERE n > \(bind: -10) ORDER BY id" as SQLQueryString
                )
                for try await row in try await connection.query(query, logger: logger) {
                    read.append(try row.decode((String, Int64, String?).self))
                }
                return read.map { "\($0.0)=\($0.1) \($0.2 ?? "nil")" }
            }
            #expect(rows == ["a=8 nil", "b=-2 nil"])
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await database.postgresTransaction { connection, logger in
                    try await connection.query(try database.postgresQuery("DELETE FROM things" as SQLQueryString), logger: logger)
                    throw Boom()
                }
            }
            #expect(try await database.sql.raw("SELECT COUNT(*) AS n FROM things").first()?.decode(column: "n", as: Int.self) == 2)
            // One statement on its own: it commits by itself, arrays bind, and its error is thrown.
            try await database.postgresRun(
                try database.postgresQuery(
                    "UPDATE things SET n = n * 10 FROM unnest(\(bind: ["a", "b"])::text[]) AS u(id) WHERE things.id = u.id AND things.n > \(bind: 0)"
                        as SQLQueryString
                )
            )
            #expect(try await database.sql.raw("SELECT n FROM things WHERE id = 'a'").first()?.decode(column: "n", as: Int.self) == 70)
            await #expect(throws: (any Error).self) {
                try await database.postgresRun(try database.postgresQuery("INSERT INTO things (id, n) VALUES (\(bind: "a"), 1)" as SQLQueryString))
            }
            // A value of a type the direct path does not bind is refused, not sent as something else.
            #expect(throws: (any Error).self) { try database.postgresQuery("SELECT \(bind: 1.5)" as SQLQueryString) }
        }
    }

    @Test("concurrent read-modify-write transactions lose no update")
    func concurrentTransactions() async throws {
        try await Self.withDatabase { database, _ in
            try await Migrator(database: database, logger: Logger(label: "test")).migrate(Self.sample)
            try await database.sql.raw("INSERT INTO things (id, n) VALUES ('counter', 0)").run()
            let kind = database.kind
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await database.transaction { db in
                            // Row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock.
                            let lock = kind == .postgres ? " FOR UPDATE" : ""
                            let n =
                                try await db.raw("SELECT n FROM things WHERE id = 'counter'\(unsafeRaw: lock)").first()?
                                .decode(column: "n", as: Int.self) ?? -1
                            try await db.raw("UPDATE things SET n = \(bind: n + 1) WHERE id = 'counter'").run()
                        }
                    }
                }
                try await group.waitForAll()
            }
            let n = try await database.sql.raw("SELECT n FROM things WHERE id = 'counter'").first()?.decode(column: "n", as: Int.self)
            #expect(n == 20)
        }
    }

    @Test("a generated setting is stored once even when several processes race to create it")
    func settingsRace() async throws {
        try await Self.withDatabase { database, _ in
            try await Migrator(database: database, logger: Logger(label: "test")).migrate(AllMigrations.list)
            let store = SettingsStore(database: database)
            let values = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<8 {
                    group.addTask { try await store.valueOrInsert("race") { "value-\(index)" } }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(values.count == 1)
        }
    }
}
