import Logging
import PostgresKit
import SQLKit

/// A way around SQLKit for the few statements that run once per job on PostgreSQL: rows read
/// through SQLKit are decoded column by column through PostgresKit's Codable translation (a
/// dynamic cast, a coding path and a lookup by name per value), which was a tenth of the
/// worker's time per job. `PostgresRow.decode` with the column types spelled out does none of
/// that. The statement itself is still written with SQLKit and serialized by it, so it reads
/// the same as every other query.
extension Database {
    /// Runs `body` in one transaction on one pooled PostgreSQL connection: committed when it
    /// returns, rolled back when it throws.
    package func postgresTransaction<T: Sendable>(_ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        try await postgresConnection { connection, logger in
            try await connection.query("BEGIN", logger: logger)
            do {
                let result = try await body(connection, logger)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Runs one statement on its own (it commits by itself) on a pooled PostgreSQL connection,
    /// with its binds encoded by PostgresNIO directly rather than through PostgresKit's Codable
    /// translation.
    package func postgresRun(_ query: PostgresQuery) async throws {
        try await postgresConnection { connection, logger in
            // Read to the end, so an error reported after the first message is thrown here and
            // the connection goes back to the pool idle.
            for try await _ in try await connection.query(query, logger: logger) {}
        }
    }

    /// Runs a prepared statement on its own on a pooled connection and returns its rows. Each
    /// connection prepares it once (PostgresNIO keeps it by name) and PostgreSQL then plans it
    /// once for all its executions, rather than parsing and planning the text every time: for
    /// the enqueue's small statements, planning took longer than running them.
    package func postgresExecute<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await postgresConnection { connection, logger in
            var rows: [Statement.Row] = []
            for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }

    /// Lends `body` one pooled PostgreSQL connection, outside any transaction: each statement
    /// commits on its own.
    func postgresConnection<T: Sendable>(_ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        guard let pool = postgresPool else { throw PostgresOnly() }
        let connection = try await pool.requestConnection(logger: logger).get()
        defer { pool.releaseConnection(connection, logger: logger) }
        return try await body(connection, logger)
    }

    /// The statement as PostgreSQL receives it: SQLKit's text with `$n` placeholders and its
    /// bound values. Binds may be String, Int, Int64, arrays of String or Int64 (`BulkRows`) or
    /// nil; others are refused rather than guessed at.
    package func postgresQuery(_ expression: any SQLExpression) throws -> PostgresQuery {
        var serializer = SQLSerializer(database: sql)
        expression.serialize(to: &serializer)
        var bindings = PostgresBindings(capacity: serializer.binds.count)
        for bind in serializer.binds {
            if let optional = bind as? any OptionalBind, optional.isNone {
                bindings.appendNull()
            } else if let text = bind as? String {
                bindings.append(text)
            } else if let number = bind as? Int64 {
                bindings.append(number)
            } else if let number = bind as? Int {
                bindings.append(number)
            } else if let texts = bind as? [String] {
                bindings.append(texts)  // BulkRows' columns
            } else if let numbers = bind as? [Int64] {
                bindings.append(numbers)
            } else {
                throw UnsupportedBind(type: "\(type(of: bind))")
            }
        }
        return PostgresQuery(unsafeSQL: serializer.sql, binds: bindings)
    }

    struct PostgresOnly: Error, CustomStringConvertible {
        var description: String { "a PostgreSQL-only statement was run on SQLite" }
    }

    struct UnsupportedBind: Error, CustomStringConvertible {
        var type: String
        var description: String { "postgresQuery cannot bind a \(type) (String, Int, Int64, [String], [Int64] or nil only)" }
    }
}

/// Tells a bound nil apart from a value (a bind arrives as `any Encodable`).
private protocol OptionalBind {
    var isNone: Bool { get }
}

extension Optional: OptionalBind {
    var isNone: Bool { self == nil }
}
