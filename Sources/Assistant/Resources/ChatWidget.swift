import Accounts
import Core
import Crypto
import Foundation
import SQLKit
import Storage

/// Seed 004's WidgetInstance: a web chat on someone's site, answering as a persona through the
/// gateway on its owner's providers. Its key (`wk_<prefix>_<secret>`) is shown once; only its
/// hash is kept. A browser request counts only from one of `allowed_origins`.
package struct ChatWidget: Sendable, Equatable, Codable {
    package var id: String
    package var owner_id: String
    package var name: String
    package var persona: String
    package var allowed_origins: [String]
    package var key_prefix: String
    package var key_hash: String
    package var enabled: Bool
    package var created_at: Int64
    package var updated_at: Int64

    static let scheme = "wk_"

    /// A new key and what is stored of it.
    static func makeKey() -> (plaintext: String, prefix: String, hash: String) {
        let prefix = RandomToken.base62(10)
        let plaintext = "\(scheme)\(prefix)_\(RandomToken.base62(32))"
        return (plaintext, prefix, hash(plaintext))
    }

    static func hash(_ plaintext: String) -> String { Hex.encode(SHA256.hash(data: Data(plaintext.utf8))) }

    static func prefix(of key: String) -> String? {
        guard key.hasPrefix(scheme) else { return nil }
        let parts = key.dropFirst(scheme.count).split(separator: "_", maxSplits: 1)
        return parts.count == 2 ? String(parts[0]) : nil
    }

    /// `https://shop.example` as browsers send it in `Origin`: scheme and host lowercased, no
    /// path, default ports dropped.
    static func normalizedOrigin(_ text: String) -> String? {
        guard let url = URL(string: text.trimmingCharacters(in: .whitespaces)), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host?.lowercased(), !host.isEmpty,
            url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil
        else { return nil }
        let port = url.port.flatMap { (scheme == "https" && $0 == 443) || (scheme == "http" && $0 == 80) ? nil : $0 }
        return "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "")
    }

    func allows(origin: String?) -> Bool {
        guard let origin, let normalized = Self.normalizedOrigin(origin) else { return false }
        return allowed_origins.contains(normalized)
    }
}

package struct ChatWidgetStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "id, owner_id, name, persona, allowed_origins, key_prefix, key_hash, enabled, created_at, updated_at"

    struct Row: Decodable {
        var id: String
        var owner_id: String
        var name: String
        var persona: String
        var allowed_origins: String
        var key_prefix: String
        var key_hash: String
        var enabled: Int
        var created_at: Int64
        var updated_at: Int64

        var widget: ChatWidget {
            ChatWidget(
                id: id,
                owner_id: owner_id,
                name: name,
                persona: persona,
                allowed_origins: (try? JSONDecoder().decode([String].self, from: Data(allowed_origins.utf8))) ?? [],
                key_prefix: key_prefix,
                key_hash: key_hash,
                enabled: enabled != 0,
                created_at: created_at,
                updated_at: updated_at
            )
        }
    }

    package func list(scope: OwnerScope) async throws -> [ChatWidget] {
        switch scope {
        case .all:
            return try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM chat_widgets ORDER BY name, id").all(decoding: Row.self)
                .map(\.widget)
        case .owner(let owner):
            return try await database.sql.raw(
                "SELECT \(unsafeRaw: Self.columns) FROM chat_widgets WHERE owner_id = \(bind: owner) ORDER BY name, id"
            ).all(decoding: Row.self).map(\.widget)
        }
    }

    package func find(id: String) async throws -> ChatWidget? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM chat_widgets WHERE id = \(bind: id)").first(decoding: Row.self)?.widget
    }

    func find(prefix: String) async throws -> ChatWidget? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM chat_widgets WHERE key_prefix = \(bind: prefix)")
            .first(decoding: Row.self)?.widget
    }

    /// The widget a presented key belongs to, if the key is right.
    package func authenticate(key: String) async throws -> ChatWidget? {
        guard let prefix = ChatWidget.prefix(of: key), let widget = try await find(prefix: prefix) else { return nil }
        return ConstantTime.equal(ChatWidget.hash(key), widget.key_hash) ? widget : nil
    }

    package func save(_ widget: ChatWidget, isNew: Bool) async throws {
        let origins = String(decoding: try JSONEncoder().encode(widget.allowed_origins), as: UTF8.self)
        if isNew {
            try await database.sql.raw(
                """
                INSERT INTO chat_widgets (\(unsafeRaw: Self.columns))
                VALUES (\(bind: widget.id), \(bind: widget.owner_id), \(bind: widget.name), \(bind: widget.persona), \(bind: origins),
                    \(bind: widget.key_prefix), \(bind: widget.key_hash), \(bind: widget.enabled ? 1 : 0), \(bind: widget.created_at),
                    \(bind: widget.updated_at))
                """
            ).run()
        } else {
            try await database.sql.raw(
                """
                UPDATE chat_widgets SET name = \(bind: widget.name), persona = \(bind: widget.persona), allowed_origins = \(bind: origins),
                    key_prefix = \(bind: widget.key_prefix), key_hash = \(bind: widget.key_hash), enabled = \(bind: widget.enabled ? 1 : 0),
                    updated_at = \(bind: widget.updated_at)
                WHERE id = \(bind: widget.id)
                """
            ).run()
        }
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM chat_widgets WHERE id = \(bind: id)").run()
    }
}
