import Core
import Foundation
import SQLKit
import Storage

/// A GPU machine running `atelier serve --role node`, as the controller knows it.
package struct FleetNode: Sendable, Equatable {
    package var id: String
    package var name: String
    package var url: URL
    /// AES-GCM sealed API key of the node (see `SecretBox`); never sent back in responses.
    package var sealedToken: String
    package var createdAt: Int64
    package var updatedAt: Int64
    package var lastSeenAt: Int64?
    package var lastStatus: String?
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
            FleetNode(
                id: id,
                name: name,
                url: $0,
                sealedToken: sealed_token,
                createdAt: created_at,
                updatedAt: updated_at,
                lastSeenAt: last_seen_at,
                lastStatus: last_status
            )
        }
    }
}

package struct FleetStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "id, name, url, sealed_token, created_at, updated_at, last_seen_at, last_status"

    package func all() async throws -> [FleetNode] {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM fleet_nodes ORDER BY name")
            .all(decoding: FleetNodeRow.self).compactMap { $0.node() }
    }

    package func find(_ idOrName: String) async throws -> FleetNode? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM fleet_nodes WHERE id = \(bind: idOrName) OR name = \(bind: idOrName)")
            .first(decoding: FleetNodeRow.self)?.node()
    }

    package func insert(_ node: FleetNode) async throws {
        if try await find(node.name) != nil { throw AppError.conflict("a node named '\(node.name)' exists already") }
        try await database.sql.raw(
            """
            INSERT INTO fleet_nodes (id, name, url, sealed_token, created_at, updated_at)
            VALUES (\(bind: node.id), \(bind: node.name), \(bind: node.url.absoluteString), \(bind: node.sealedToken),
                    \(bind: node.createdAt), \(bind: node.updatedAt))
            """
        ).run()
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM fleet_nodes WHERE id = \(bind: id)").run()
    }

    package func recordHealth(id: String, status: String, seen: Bool, now: Int64) async throws {
        if seen {
            try await database.sql.raw("UPDATE fleet_nodes SET last_status = \(bind: status), last_seen_at = \(bind: now) WHERE id = \(bind: id)")
                .run()
        } else {
            try await database.sql.raw("UPDATE fleet_nodes SET last_status = \(bind: status) WHERE id = \(bind: id)").run()
        }
    }
}
