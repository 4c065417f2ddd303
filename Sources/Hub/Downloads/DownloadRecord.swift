import Core
import Foundation

/// A download asked for through the API: persisted, so queued and running ones survive restarts.
public struct DownloadRecord: Sendable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case queued, running, succeeded, failed, cancelled

        public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    public struct File: Sendable, Equatable, Codable {
        public var path: String
        public var sha256: String
        public var size: Int64
        public var already_present: Bool
        public var catalog_key: String?
    }

    public var id: String
    public var ownerID: String
    public var ref: String
    public var layout: String?
    public var kind: String?
    public var status: Status
    public var totalBytes: Int64?
    public var receivedBytes: Int64
    public var files: [File]
    public var error: String?
    public var attempts: Int
    public var idempotencyKey: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
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
            id: id, ownerID: owner_id, ref: ref, layout: layout, kind: kind, status: .init(rawValue: status) ?? .failed,
            totalBytes: total_bytes, receivedBytes: received_bytes,
            files: (try? JSONDecoder().decode([DownloadRecord.File].self, from: Data(files.utf8))) ?? [],
            error: error, attempts: attempts, idempotencyKey: idempotency_key, createdAt: created_at, updatedAt: updated_at,
            startedAt: started_at, finishedAt: finished_at)
    }
}
