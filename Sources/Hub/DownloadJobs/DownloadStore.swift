import Accounts
import Core
import Foundation
import SQLKit
import Storage

/// The `downloads` table. It is also the queue: a process claims a queued download (or one whose
/// lease ran out because its process died) with one conditional UPDATE, and keeps the lease alive
/// while it works.
package struct DownloadStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns =
        "id, owner_id, ref, layout, kind, status, total_bytes, received_bytes, files, error, attempts, idempotency_key, lease_holder, lease_expires_at, created_at, updated_at, started_at, finished_at"

    package func insert(_ record: DownloadRecord) async throws -> DownloadRecord {
        if let key = record.idempotencyKey, let existing = try await find(owner: record.ownerID, idempotencyKey: key) {
            return existing
        }
        try await database.sql.raw(
            """
            INSERT INTO downloads (id, owner_id, ref, layout, kind, status, received_bytes, files, attempts, idempotency_key, created_at, updated_at)
            VALUES (\(bind: record.id), \(bind: record.ownerID), \(bind: record.ref), \(bind: record.layout), \(bind: record.kind),
                    \(bind: record.status.rawValue), 0, '[]', 0, \(bind: record.idempotencyKey), \(bind: record.createdAt), \(bind: record.updatedAt))
            ON CONFLICT (owner_id, idempotency_key) DO NOTHING
            """
        ).run()
        if let key = record.idempotencyKey, let stored = try await find(owner: record.ownerID, idempotencyKey: key) {
            return stored
        }
        return try await find(id: record.id) ?? record
    }

    package func find(id: String) async throws -> DownloadRecord? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM downloads WHERE id = \(bind: id)")
            .first(decoding: DownloadRow.self)?.record()
    }

    func find(owner: String, idempotencyKey: String) async throws -> DownloadRecord? {
        try await database.sql.raw(
            """
            SELECT \(unsafeRaw: Self.columns) FROM downloads WHERE owner_id = \(bind: owner) AND idempotency_key = \(bind: idempotencyKey)
            """
        ).first(decoding: DownloadRow.self)?.record()
    }

    package func list(scope: OwnerScope, status: DownloadRecord.Status?, page: PageRequest) async throws -> [DownloadRecord] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Self.columns) FROM downloads WHERE id > \(bind: page.after ?? "")"
        if case .owner(let owner) = scope { query = query + " AND owner_id = \(bind: owner)" }
        if let status { query = query + " AND status = \(bind: status.rawValue)" }
        query = query + " ORDER BY id LIMIT \(bind: page.limit + 1)"
        return try await database.sql.raw(query).all(decoding: DownloadRow.self).map { $0.record() }
    }

    /// Claims the oldest claimable download for `holder`, or nil.
    func claim(holder: String, leaseMillis: Int64, now: Int64) async throws -> DownloadRecord? {
        try await database.sql.raw(
            """
            UPDATE downloads SET status = 'running', lease_holder = \(bind: holder), lease_expires_at = \(bind: now + leaseMillis),
                started_at = COALESCE(started_at, \(bind: now)), attempts = attempts + 1, updated_at = \(bind: now)
            WHERE id = (SELECT id FROM downloads WHERE status = 'queued' OR (status = 'running' AND lease_expires_at < \(bind: now))
                        ORDER BY created_at, id LIMIT 1)
              AND (status = 'queued' OR (status = 'running' AND lease_expires_at < \(bind: now)))
            RETURNING \(unsafeRaw: Self.columns)
            """
        ).first(decoding: DownloadRow.self)?.record()
    }

    /// Extends the lease and records progress; returns the current status (another process may
    /// have cancelled it).
    func heartbeat(id: String, holder: String, leaseMillis: Int64, now: Int64, total: Int64?, received: Int64) async throws -> DownloadRecord.Status?
    {
        try await database.sql.raw(
            """
            UPDATE downloads SET lease_expires_at = \(bind: now + leaseMillis), total_bytes = \(bind: total),
                received_bytes = \(bind: received), updated_at = \(bind: now)
            WHERE id = \(bind: id) AND lease_holder = \(bind: holder) AND status = 'running'
            """
        ).run()
        return try await find(id: id)?.status
    }

    /// Moves a download this holder runs to a final (or back to queued) state.
    func finish(
        id: String,
        holder: String,
        status: DownloadRecord.Status,
        files: [DownloadRecord.File],
        error: String?,
        total: Int64?,
        received: Int64,
        now: Int64
    ) async throws {
        let filesJSON = String(decoding: try JSONEncoder().encode(files), as: UTF8.self)
        try await database.sql.raw(
            """
            UPDATE downloads SET status = \(bind: status.rawValue), files = \(bind: filesJSON), error = \(bind: error),
                total_bytes = \(bind: total), received_bytes = \(bind: received), lease_holder = NULL, lease_expires_at = NULL,
                updated_at = \(bind: now), finished_at = \(bind: status.isFinal ? now : nil)
            WHERE id = \(bind: id) AND lease_holder = \(bind: holder) AND status = 'running'
            """
        ).run()
    }

    /// Cancels a download that is not finished yet. Returns the record after the change.
    func cancel(id: String, now: Int64) async throws -> DownloadRecord? {
        try await database.sql.raw(
            """
            UPDATE downloads SET status = 'cancelled', updated_at = \(bind: now), finished_at = \(bind: now),
                lease_holder = NULL, lease_expires_at = NULL
            WHERE id = \(bind: id) AND status IN ('queued', 'running')
            """
        ).run()
        return try await find(id: id)
    }

    /// Puts a failed or cancelled download back in the queue.
    func retry(id: String, now: Int64) async throws -> DownloadRecord? {
        try await database.sql.raw(
            """
            UPDATE downloads SET status = 'queued', error = NULL, updated_at = \(bind: now), finished_at = NULL
            WHERE id = \(bind: id) AND status IN ('failed', 'cancelled')
            """
        ).run()
        return try await find(id: id)
    }
}
