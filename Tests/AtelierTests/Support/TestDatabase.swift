import Core
import Foundation
import Logging
import Storage

/// Which database this test run uses. `scripts/test` runs the suite once per database:
/// `ATELIER_TEST_DATABASE=sqlite` (default) and `=postgres` with `ATELIER_TEST_POSTGRES_URL`.
/// Each test gets its own SQLite file or its own PostgreSQL schema, so tests run in parallel.
enum TestDatabase {
    static var kind: DatabaseKind {
        ProcessInfo.processInfo.environment["ATELIER_TEST_DATABASE"] == "postgres" ? .postgres : .sqlite
    }

    static var postgresURL: String? { ProcessInfo.processInfo.environment["ATELIER_TEST_POSTGRES_URL"] }

    /// Settings that point a fresh installation at a fresh database.
    static func settings(dataDir: String) throws -> [String: String] {
        var values = ["ATELIER_DATA_DIR": dataDir]
        if kind == .postgres {
            guard let url = postgresURL else { throw MissingPostgres() }
            values["DATABASE_URL"] = url
            values["ATELIER_DATABASE_SCHEMA"] = "t_" + RandomToken.base62(12).lowercased()
        }
        return values
    }

    /// Removes what `settings` created: the data dir, and on PostgreSQL the schema.
    static func cleanUp(_ settings: [String: String]) async {
        if let schema = settings["ATELIER_DATABASE_SCHEMA"], let url = settings["DATABASE_URL"],
            let database = try? Database.open(.postgres(url: Secret(url), schema: nil), poolSize: 1, logger: Logger(label: "test"))
        {
            try? await database.sql.raw("DROP SCHEMA IF EXISTS \(unsafeRaw: schema) CASCADE").run()
            await database.close()
        }
        if let dir = settings["ATELIER_DATA_DIR"] { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func temporaryDirectory() -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("atelier-test-\(RandomToken.base62(10))")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

struct MissingPostgres: Error, CustomStringConvertible {
    var description: String { "ATELIER_TEST_DATABASE=postgres needs ATELIER_TEST_POSTGRES_URL (scripts/test sets both)" }
}
