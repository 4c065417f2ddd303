import Accounts
import Core
import Foundation
import SQLKit
import Storage

/// The `chat_sessions` and `chat_messages` tables.
package struct ChatSessionStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "id, owner_id, persona, title, source, created_at, updated_at"

    /// Newest first (ids sort by creation), `limit` after the id `after`.
    package func list(scope: OwnerScope, limit: Int, after: String?) async throws -> [ChatSession] {
        let after = after ?? "~"
        switch scope {
        case .all:
            return try await database.sql.raw(
                "SELECT \(unsafeRaw: Self.columns) FROM chat_sessions WHERE id < \(bind: after) ORDER BY id DESC LIMIT \(bind: limit)"
            ).all(decoding: ChatSession.self)
        case .owner(let owner):
            return try await database.sql.raw(
                """
                SELECT \(unsafeRaw: Self.columns) FROM chat_sessions WHERE owner_id = \(bind: owner) AND id < \(bind: after)
                ORDER BY id DESC LIMIT \(bind: limit)
                """
            ).all(decoding: ChatSession.self)
        }
    }

    package func find(id: String) async throws -> ChatSession? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM chat_sessions WHERE id = \(bind: id)").first(decoding: ChatSession.self)
    }

    /// The owner's running conversation from `source` with `persona`, made when there is none.
    package func current(owner: String, persona: String, source: String, now: Int64) async throws -> ChatSession {
        if let found = try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM chat_sessions
            WHERE owner_id = \(bind: owner) AND source = \(bind: source) AND persona = \(bind: persona)
            ORDER BY updated_at DESC LIMIT 1
            """
        ).first(decoding: ChatSession.self) {
            return found
        }
        let session = ChatSession(ownerID: owner, persona: persona, title: "\(persona)", source: source, now: now)
        try await insert(session)
        return session
    }

    package func insert(_ session: ChatSession) async throws {
        try await database.sql.raw(
            """
            INSERT INTO chat_sessions (\(unsafeRaw: Self.columns))
            VALUES (\(bind: session.id), \(bind: session.owner_id), \(bind: session.persona), \(bind: session.title), \(bind: session.source),
                \(bind: session.created_at), \(bind: session.updated_at))
            """
        ).run()
    }

    package func update(_ session: ChatSession) async throws {
        try await database.sql.raw(
            """
            UPDATE chat_sessions SET title = \(bind: session.title), persona = \(bind: session.persona), updated_at = \(bind: session.updated_at)
            WHERE id = \(bind: session.id)
            """
        ).run()
    }

    package func delete(id: String) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM chat_messages WHERE session_id = \(bind: id)").run()
            try await db.raw("DELETE FROM chat_sessions WHERE id = \(bind: id)").run()
        }
    }

    /// Forgets what was said in the owner's sessions from `source` (all personas, or one).
    package func clear(owner: String, source: String, persona: String?) async throws -> Int {
        let sessions = try await database.sql.raw(
            "SELECT id FROM chat_sessions WHERE owner_id = \(bind: owner) AND source = \(bind: source)"
                + (persona.map { " AND persona = \(bind: $0)" } ?? "")
        ).all().map { try $0.decode(column: "id", as: String.self) }
        for id in sessions { try await database.sql.raw("DELETE FROM chat_messages WHERE session_id = \(bind: id)").run() }
        return sessions.count
    }

    package func append(session: String, role: String, content: String, now: Int64) async throws {
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO chat_messages (session_id, role, content, created_at)
                VALUES (\(bind: session), \(bind: role), \(bind: content), \(bind: now))
                """
            ).run()
            try await db.raw("UPDATE chat_sessions SET updated_at = \(bind: now) WHERE id = \(bind: session)").run()
        }
    }

    /// The newest `limit` messages, oldest first.
    package func messages(session: String, limit: Int) async throws -> [ChatMessage] {
        try await database.sql.raw(
            """
            SELECT id, session_id, role, content, created_at FROM chat_messages WHERE session_id = \(bind: session)
            ORDER BY id DESC LIMIT \(bind: limit)
            """
        ).all(decoding: ChatMessage.self).reversed()
    }
}
