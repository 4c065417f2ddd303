import Core
import Foundation

/// A download asked for through the API: persisted, so queued and running ones survive restarts.
package struct DownloadRecord: Sendable, Equatable {
    package enum Status: String, Sendable, Codable, CaseIterable {
        case queued, running, succeeded, failed, cancelled

        package var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    package struct File: Sendable, Equatable, Codable {
        package var path: String
        package var sha256: String
        package var size: Int64
        package var already_present: Bool
        package var catalog_key: String?
    }

    package var id: String
    package var ownerID: String
    package var ref: String
    package var layout: String?
    package var kind: String?
    package var status: Status
    package var totalBytes: Int64?
    package var receivedBytes: Int64
    package var files: [File]
    package var error: String?
    package var attempts: Int
    package var idempotencyKey: String?
    package var createdAt: Int64
    package var updatedAt: Int64
    package var startedAt: Int64?
    package var finishedAt: Int64?
}

struct DownloadRow: Codable {
    var id: String
    var owner_id: String
    var ref: String
    var layout: String?
    var kind: String?
    var status: String
    var total_bytes: Int64?
    var received_bytes: Int64
    var files: String
    var error: String?
    var attempts: Int
    var idempotency_key: String?
    var lease_holder: String?
    var lease_expires_at: Int64?
    var created_at: Int64
    var updated_at: Int64
    var started_at: Int64?
    var finished_at: Int64?

    func record() -> DownloadRecord {
        DownloadRecord(
            id: id,
            ownerID: owner_id,
            ref: ref,
            layout: layout,
            kind: kind,
            status: .init(rawValue: status) ?? .failed,
            totalBytes: total_bytes,
            receivedBytes: received_bytes,
            files: (try? JSONDecoder().decode([DownloadRecord.File].self, from: Data(files.utf8))) ?? [],
            error: error,
            attempts: attempts,
            idempotencyKey: idempotency_key,
            createdAt: created_at,
            updatedAt: updated_at,
            startedAt: started_at,
            finishedAt: finished_at
        )
    }
}
