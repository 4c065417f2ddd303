import Core
import Foundation
import PostgresKit
import SQLKit
import Storage

/// Recording how attempts ended, written in batches (`GroupCommit`).
extension JobStore {
    /// The end of an attempt, as the worker reports it (`holder`: its claim token).
    enum Completion: Sendable {
        /// `images`: where the result's images were written; they are synced before the row.
        case succeeded(id: String, holder: String, result: String, images: ImageStore, now: Int64)
        /// Back to pending after `retryAt`, or failed for good when it is nil.
        case failed(id: String, holder: String, error: String, retryAt: Int64?, now: Int64)
    }

    /// A successful attempt. The result's images were only written to `images` (see
    /// `ImageStore.writeFile`); the batch makes them durable before it records the success.
    func succeed(id: String, holder: String, attempt: Int, result: JobResult, imagesToSync images: ImageStore, now: Int64) async throws {
        _ = try await completions.submit(
            .succeeded(
                id: id,
                holder: Self.claimToken(holder: holder, attempt: attempt),
                result: result.storedJSON,
                images: images,
                now: now
            )
        )
    }

    /// A failed attempt: back to pending after `retryAt`, or failed for good.
    func fail(id: String, holder: String, attempt: Int, error: String, retryAt: Int64?, now: Int64) async throws {
        _ = try await completions.submit(
            .failed(
                id: id,
                holder: Self.claimToken(holder: holder, attempt: attempt),
                error: error,
                retryAt: retryAt,
                now: now
            )
        )
    }

    /// Records finished attempts, after syncing the images of the successes: one multi-row
    /// UPDATE per outcome (success, retry, failure), in one transaction when there are several.
    /// Each row only changes while the worker still holds the job (a cancel or a reaped lease
    /// wins), so writing a row twice (a batch retried one by one after a failure) changes
    /// nothing the second time.
    static func complete(_ items: [Completion], in database: Database) async throws -> [Bool] {
        /// A finished attempt: the result (success) or the error (failure, retry) as `value`.
        struct Row {
            var id: String, holder: String, value: String, retryAt: Int64, now: Int64
        }
        // No row may point at an image a power cut could still lose.
        var stores: [String: ImageStore] = [:]
        for case .succeeded(_, _, _, let images, _) in items { stores[images.root] = images }
        for images in stores.values { try await images.sync() }
        var succeeded: [Row] = []
        var retried: [Row] = []
        var failed: [Row] = []
        // A job is finished when its outcome is written, not when its attempt ended: the image
        // was made durable and the batch waited for its turn in between.
        let written = Timestamp.millis(Date())
        for item in items {
            switch item {
            case .succeeded(let id, let holder, let result, _, let now):
                succeeded.append(Row(id: id, holder: holder, value: result, retryAt: 0, now: max(now, written)))
            case .failed(let id, let holder, let error, let retryAt?, let now):
                retried.append(Row(id: id, holder: holder, value: error, retryAt: retryAt, now: max(now, written)))
            case .failed(let id, let holder, let error, nil, let now):
                failed.append(Row(id: id, holder: holder, value: error, retryAt: 0, now: max(now, written)))
            }
        }
        if database.kind == .postgres && retried.isEmpty && failed.isEmpty {
            // Successes only (the usual case): one prepared statement that commits on its own.
            guard !succeeded.isEmpty else { return [] }
            _ = try await database.postgresExecute(
                JobStatements.Succeed(
                    ids: succeeded.map(\.id),
                    holders: succeeded.map(\.holder),
                    results: succeeded.map(\.value),
                    times: succeeded.map(\.now)
                )
            )
            return items.map { _ in true }
        }
        let outcomes: [(rows: [Row], set: SQLQueryString)] = [
            (succeeded, "state = 'success', result = v.value, error = NULL, updated_at = v.now, finished_at = v.now"),
            (retried, "state = 'pending', error = v.value, run_after = v.retry_at, updated_at = v.now"),
            (failed, "state = 'failed', error = v.value, updated_at = v.now, finished_at = v.now"),
        ]
        var statements: [SQLQueryString] = []
        for (rows, set) in outcomes where !rows.isEmpty {
            var v = BulkRows(count: rows.count)
            v.text("id", rows.map(\.id))
            v.text("holder", rows.map(\.holder))
            v.text("value", rows.map(\.value))
            v.bigint("retry_at", rows.map(\.retryAt))
            v.bigint("now", rows.map(\.now))
            statements.append(
                "UPDATE jobs SET " + set + ", lease_holder = NULL, lease_expires_at = NULL FROM " + v.table(for: database.kind)
                    + " WHERE jobs.id = v.id AND jobs.lease_holder || '#' || jobs.attempt = v.holder AND jobs.state = 'started'"
            )
        }
        let ready = statements
        if database.kind == .postgres && ready.count == 1 {
            // One outcome: the statement commits on its own, one round trip instead of three,
            // and its arrays are bound by PostgresNIO directly.
            try await database.postgresRun(database.postgresQuery(ready[0]))
        } else {
            try await database.transaction { db in
                for statement in ready { try await db.raw(statement).run() }
            }
        }
        return items.map { _ in true }
    }

    /// Gives a job back to the queue (graceful shutdown) without counting the attempt.
    func release(id: String, holder: String, attempt: Int, now: Int64) async throws {
        try await database.sql.raw(
            """
            UPDATE jobs SET state = 'pending', attempt = attempt - 1, lease_holder = NULL, lease_expires_at = NULL, updated_at = \(bind: now)
            WHERE id = \(bind: id) AND lease_holder = \(bind: holder) AND attempt = \(bind: attempt) AND state = 'started'
            """
        ).run()
    }
}
