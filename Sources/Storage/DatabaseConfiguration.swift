import Core
import Foundation

package enum DatabaseKind: String, Sendable, CaseIterable, Codable {
    case sqlite, postgres
}

/// Where the data lives: a SQLite file (the embedded default) or a PostgreSQL server.
package enum DatabaseConfiguration: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    /// `schema`, when set, is created if missing and used as the search path, so several Atelier
    /// installations (or test runs) can share one PostgreSQL database.
    case postgres(url: Secret, schema: String?)

    package var kind: DatabaseKind {
        switch self {
        case .sqlite: .sqlite
        case .postgres: .postgres
        }
    }

    /// Parses `DATABASE_URL`. Absent → SQLite in the data dir; `sqlite:PATH` or `sqlite://PATH` →
    /// that file; `postgres://` / `postgresql://` → PostgreSQL. Anything else is an error that
    /// names the setting.
    package static func parse(databaseURL: String?, dataDir: String, schema: String?) throws -> DatabaseConfiguration {
        guard let url = databaseURL?.trimmingCharacters(in: .whitespaces), !url.isEmpty else {
            return .sqlite(path: (dataDir as NSString).appendingPathComponent("atelier.sqlite"))
        }
        let lower = url.lowercased()
        if lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") {
            guard URLComponents(string: url)?.host?.isEmpty == false else {
                throw ConfigurationError(
                    setting: "DATABASE_URL",
                    problem: "a postgres:// URL needs a host, e.g. postgres://user:pass@127.0.0.1:5432/atelier"
                )
            }
            if let schema, !schema.isEmpty, !Self.isValidSchemaName(schema) {
                throw ConfigurationError(
                    setting: "ATELIER_DATABASE_SCHEMA",
                    problem: "use letters, digits and _ only (at most 63), starting with a letter"
                )
            }
            return .postgres(url: Secret(url), schema: schema?.isEmpty == true ? nil : schema)
        }
        if lower.hasPrefix("sqlite://") { return .sqlite(path: String(url.dropFirst("sqlite://".count))) }
        if lower.hasPrefix("sqlite:") { return .sqlite(path: String(url.dropFirst("sqlite:".count))) }
        throw ConfigurationError(
            setting: "DATABASE_URL",
            problem: "expected postgres://… or sqlite:PATH (or leave it unset for SQLite in the data dir)"
        )
    }

    package static func isValidSchemaName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, CharacterSet.letters.contains(first), name.count <= 63 else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
    }

    package var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url, let schema):
            "postgres://\(URLComponents(string: url.value)?.host ?? "?")" + (schema.map { " (schema \($0))" } ?? "")
        }
    }
}

/// A setting that is missing or malformed. The message names the setting and how to fix it; the
/// CLI prints it and exits non-zero.
package struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    package var setting: String
    package var problem: String

    package init(setting: String, problem: String) {
        self.setting = setting
        self.problem = problem
    }

    package var description: String { "\(setting): \(problem)" }
}
