import Core
import Foundation
import SQLKit
import Storage

/// A download an admin asked the downloads bot for: the model (as described before the choice),
/// where it goes, and the tickets of each target, so the lease holder follows it after a restart.
package struct FleetDownloadRequest: Sendable, Equatable {
    package var id: String
    package var botID: String
    package var chatID: Int64
    package var requestedBy: Int64
    package var summary: ModelSummary
    /// `choosing` (targets offered), `running`, `done`.
    package var state: String
    package var statusMessageID: Int64?
    package var tickets: [FleetTicket]
}

package struct FleetDownloadStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    struct Row: Decodable {
        var id: String
        var bot_id: String
        var chat_id: Int64
        var requested_by: Int64
        var summary: String
        var state: String
        var status_message_id: Int64?
        var tickets: String?

        func request() throws -> FleetDownloadRequest {
            FleetDownloadRequest(
                id: id,
                botID: bot_id,
                chatID: chat_id,
                requestedBy: requested_by,
                summary: try JSONDecoder().decode(ModelSummary.self, from: Data(summary.utf8)),
                state: state,
                statusMessageID: status_message_id,
                tickets: try tickets.map { try JSONDecoder().decode([FleetTicket].self, from: Data($0.utf8)) } ?? []
            )
        }
    }

    static let columns = "id, bot_id, chat_id, requested_by, summary, state, status_message_id, tickets"

    package func create(bot: String, chat: Int64, by user: Int64, summary: ModelSummary, now: Int64) async throws -> String {
        let id = ID.make("tdl")
        try await database.sql.raw(
            """
            INSERT INTO telegram_downloads (id, bot_id, chat_id, requested_by, summary, state, created_at)
            VALUES (\(bind: id), \(bind: bot), \(bind: chat), \(bind: user), \(bind: try Self.json(summary)), 'choosing', \(bind: now))
            """
        ).run()
        return id
    }

    package func find(_ id: String) async throws -> FleetDownloadRequest? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM telegram_downloads WHERE id = \(bind: id)").first(decoding: Row.self)?
            .request()
    }

    /// Moves a request from `choosing` to `running`; false when it was started already (a second
    /// press of the button).
    package func claim(_ id: String) async throws -> Bool {
        try await !database.sql.raw(
            "UPDATE telegram_downloads SET state = 'starting' WHERE id = \(bind: id) AND state = 'choosing' RETURNING id"
        ).all().isEmpty
    }

    package func started(_ id: String, tickets: [FleetTicket], statusMessage: Int64?) async throws {
        try await database.sql.raw(
            """
            UPDATE telegram_downloads SET state = 'running', tickets = \(bind: try Self.json(tickets)), status_message_id = \(bind: statusMessage)
            WHERE id = \(bind: id)
            """
        ).run()
    }

    package func running(bot: String) async throws -> [FleetDownloadRequest] {
        try await database.sql.raw(
            "SELECT \(unsafeRaw: Self.columns) FROM telegram_downloads WHERE bot_id = \(bind: bot) AND state = 'running' ORDER BY created_at LIMIT 100"
        ).all(decoding: Row.self).map { try $0.request() }
    }

    package func finish(_ id: String, now: Int64) async throws {
        try await database.sql.raw("UPDATE telegram_downloads SET state = 'done', finished_at = \(bind: now) WHERE id = \(bind: id)").run()
    }

    static func json(_ value: some Encodable) throws -> String { String(decoding: try JSONEncoder().encode(value), as: UTF8.self) }
}
