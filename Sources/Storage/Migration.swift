/// One numbered schema step owned by a feature. `id` is `feature/NNN_name` and never changes once
/// released; `statements` run in order inside the migrator's transaction. Most DDL is written once
/// for both databases (TEXT ids, BIGINT millisecond times, BOOLEAN); `postgres` overrides where the
/// dialects differ.
package struct Migration: Sendable {
    package let id: String
    package let statements: [String]
    package let postgres: [String]?

    package init(_ id: String, _ statements: [String], postgres: [String]? = nil) {
        self.id = id
        self.statements = statements
        self.postgres = postgres
    }

    func statements(for kind: DatabaseKind) -> [String] {
        kind == .postgres ? (postgres ?? statements) : statements
    }
}
