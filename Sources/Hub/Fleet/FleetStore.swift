import Core
import Foundation
import SQLKit
import Storage

/// A GPU machine running `atelier serve --role node`, as the controller knows it.
public struct FleetNode: Sendable, Equatable {
    public var id: String
    public var name: String
    public var url: URL
    /// AES-GCM sealed API key of the node (see `SecretBox`); never sent back in responses.
    public var sealedToken: String
    public var createdAt: Int64
    public var updatedAt: Int64
    public var lastSeenAt: Int64?
    public var lastStatus: String?
}

struct FleetNodeRow: Codable {
    var id: String
    var name: String
    var url: String
    var sealed_token: String
    var created_at: Int64
    var updated_at: Int64
    var last_seen_at: Int64?
    var last_status: String?

    func node() -> FleetNode? {
        URL(string: url).map {
            FleetNode(id: id, name: name, url: $0, sealedToken: sealed_token, createdAt: created_at, updatedAt: updated_at,
                      lastSeenAt: last_seen_at, lastStatus: last_status)
        }
    }
}

public struct FleetStore: Sendable {
    let database: Database

    public init(database: Database) { self.database = database }

    static let columns = "id, name, url, sealed_token, created_at, updated_at, last_seen_at, last_status"

    public func all() async throws -> [FleetNode] {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM fleet_nodes ORDER BY name")
            .all(decoding: FleetNodeRow.self).compactMap { $0.node() }
    }

    public func find(_ idOrName: String) async throws -> FleetNode? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM fleet_nodes WHERE id = \(bind: idOrName) OR name = \(bind: idOrName)")
            .first(decoding: FleetNodeRow.self)?.node()
    }

    public func insert(_ node: FleetNode) async throws {
        if try await find(node.name) != nil { throw AppError.conflict("a node named '\(node.name)' exists already") }
        try await database.sql.raw("""
            INSERT INTO fleet_nodes (id, name, url, sealed_token, created_at, updated_at)
            VALUES (\(bind: node.id), \(bind: node.name), \(bind: node.url.absoluteString), \(bind: node.sealedToken),
                    \(bind: node.createdAt), \(bind: node.updatedAt))
            """).run()
    }

    public func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM fleet_nodes WHERE id = \(bind: id)").run()
    }

    public func recordHealth(id: String, status: String, seen: Bool, now: Int64) async throws {
        if seen {
            try await database.sql.raw("UPDATE fleet_nodes SET last_status = \(bind: status), last_seen_at = \(bind: now) WHERE id = \(bind: id)").run()
        } else {
            try await database.sql.raw("UPDATE fleet_nodes SET last_status = \(bind: status) WHERE id = \(bind: id)").run()
        }
    }
}
