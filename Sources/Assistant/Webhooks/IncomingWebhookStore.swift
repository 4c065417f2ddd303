import Core
import Foundation
import SQLKit
import Storage

/// The `incoming_webhooks` table: one row per delivery a service sent us (a GitHub delivery, one
/// event of an amoCRM post), keyed by the service's own delivery id. Senders deliver again when
/// they do not hear back in time, so the key is what makes "recorded and announced once" hold,
/// across processes too.
package struct IncomingWebhookStore: Sendable {
    /// A recorded delivery, as the admin listing shows it.
    package struct Delivery: Codable, Sendable, Equatable {
        package var service: String
        package var delivery_id: String
        package var event: String
        package var summary: String
        /// The delivery's JSON as received (GitHub) or as parsed from the form (amoCRM).
        package var payload: String
        /// Milliseconds since 1970.
        package var received_at: Int64
    }

    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "service, delivery_id, event, summary, payload, received_at"

    /// Records a delivery; true when it is new, false when this service sent it before.
    package func record(service: String, deliveryID: String, event: String, summary: String, payload: String, now: Int64) async throws -> Bool {
        // RETURNING answers a row only when the insert happened, on SQLite and PostgreSQL alike,
        // so two copies arriving at once still make one "new".
        try await !database.sql.raw(
            """
            INSERT INTO incoming_webhooks (\(unsafeRaw: Self.columns))
            VALUES (\(bind: service), \(bind: deliveryID), \(bind: event), \(bind: summary), \(bind: payload), \(bind: now))
            ON CONFLICT (service, delivery_id) DO NOTHING RETURNING delivery_id
            """
        ).all().isEmpty
    }

    /// The newest deliveries first, of one service or of all.
    package func list(service: String?, limit: Int) async throws -> [Delivery] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Self.columns) FROM incoming_webhooks"
        if let service { query += " WHERE service = \(bind: service)" }
        query += " ORDER BY received_at DESC, delivery_id DESC LIMIT \(bind: max(1, limit))"
        return try await database.sql.raw(query).all(decoding: Delivery.self)
    }
}

extension IncomingWebhookStore {
    /// Text from a sender made fit for a one-line summary: control characters (line breaks, NUL,
    /// which PostgreSQL refuses in text) become spaces, and long text is cut with an ellipsis.
    package static func oneLine(_ text: String, max: Int = 120) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(scalar.properties.generalCategory == .control ? " " : scalar)
        }
        let line = String(scalars).trimmingWhitespace
        return line.count > max ? String(line.prefix(max - 1)) + "…" : line
    }
}
