import Core
import Foundation
import SQLKit
import Storage

/// The workers table. A process runs a worker only while it holds the worker's lease, so a GPU
/// is driven by one process even when several share the database.
package struct WorkerStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns =
        "id, name, backend, endpoint, sealed_token, concurrency, models, options, node_id, enabled, loaded_model, lease_holder, lease_expires_at, last_error, created_at, updated_at"

    package func all() async throws -> [GPUWorker] {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM workers ORDER BY name").all(decoding: WorkerRow.self).map { $0.worker() }
    }

    package func find(_ idOrName: String) async throws -> GPUWorker? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM workers WHERE id = \(bind: idOrName) OR name = \(bind: idOrName)")
            .first(decoding: WorkerRow.self)?.worker()
    }

    static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    package func insert(_ worker: GPUWorker) async throws {
        if try await find(worker.name) != nil { throw AppError.conflict("a worker named '\(worker.name)' exists already") }
        try await database.sql.raw(
            """
            INSERT INTO workers (id, name, backend, endpoint, sealed_token, concurrency, models, options, node_id, enabled, created_at, updated_at)
            VALUES (\(bind: worker.id), \(bind: worker.name), \(bind: worker.backend.rawValue), \(bind: worker.endpoint), \(bind: worker.sealedToken),
                    \(bind: worker.concurrency), \(bind: try Self.encode(worker.models)), \(bind: try Self.encode(worker.options)),
                    \(bind: worker.nodeID), \(bind: worker.enabled ? 1 : 0), \(bind: worker.createdAt), \(bind: worker.updatedAt))
            """
        ).run()
    }

    /// Saves the editable fields; `updated_at` changes, which makes the running process restart it.
    package func update(_ worker: GPUWorker, now: Int64) async throws {
        try await database.sql.raw(
            """
            UPDATE workers SET name = \(bind: worker.name), endpoint = \(bind: worker.endpoint), sealed_token = \(bind: worker.sealedToken),
                concurrency = \(bind: worker.concurrency), models = \(bind: try Self.encode(worker.models)),
                options = \(bind: try Self.encode(worker.options)), node_id = \(bind: worker.nodeID), enabled = \(bind: worker.enabled ? 1 : 0),
                updated_at = \(bind: now)
            WHERE id = \(bind: worker.id)
            """
        ).run()
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM workers WHERE id = \(bind: id)").run()
    }

    /// Takes or renews the lease; true when `holder` now holds it.
    func lease(id: String, holder: String, leaseMillis: Int64, now: Int64) async throws -> Bool {
        try await database.sql.raw(
            """
            UPDATE workers SET lease_holder = \(bind: holder), lease_expires_at = \(bind: now + leaseMillis)
            WHERE id = \(bind: id) AND enabled = 1 AND (lease_holder IS NULL OR lease_holder = \(bind: holder) OR lease_expires_at < \(bind: now))
            RETURNING id
            """
        ).first() != nil
    }

    func releaseLease(id: String, holder: String) async throws {
        try await database.sql.raw(
            """
            UPDATE workers SET lease_holder = NULL, lease_expires_at = NULL WHERE id = \(bind: id) AND lease_holder = \(bind: holder)
            """
        ).run()
    }

    func record(id: String, loadedModel: String?, lastError: String?) async throws {
        try await database.sql.raw(
            """
            UPDATE workers SET loaded_model = \(bind: loadedModel), last_error = \(bind: lastError) WHERE id = \(bind: id)
            """
        ).run()
    }

    /// Adds the embedded mock worker on a new installation, so it generates out of the box. Done
    /// once: a deleted mock stays deleted. Two processes racing here both end with one `mock` row.
    func ensureDefault(now: Int64) async throws {
        let marker = ID.make("seed")
        guard try await SettingsStore(database: database).valueOrInsert("default_worker_seeded", make: { marker }) == marker,
            try await database.sql.raw("SELECT id FROM workers LIMIT 1").first() == nil
        else { return }
        try? await insert(GPUWorker(name: "mock", backend: .mock, endpoint: "mock:", concurrency: 4, now: now))
    }
}
