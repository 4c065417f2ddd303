import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore

/// The controller side of the fleet: a registry of nodes and fan-out of downloads to them. Each
/// node pulls the file itself (over its own network); a node that is down or refuses is reported
/// per node and does not fail the others.
package struct FleetService: Sendable {
    package let store: FleetStore
    /// Node URLs are an admin's input: their addresses are checked like any other (`AddressPolicy`).
    let client: OutboundHTTP
    let box: SecretBox
    let logger: Logger

    package init(store: FleetStore, client: OutboundHTTP, box: SecretBox, logger: Logger) {
        self.store = store
        self.client = client
        self.box = box
        self.logger = logger
    }

    package func register(name: String, url: String, token: Secret) async throws -> FleetNode {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard (1...64).contains(trimmed.count) else { throw AppError.validation(field: "name", "must be 1 to 64 characters") }
        guard let parsed = URL(string: url.trimmingSuffix("/")), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
            parsed.host?.isEmpty == false
        else {
            throw AppError.validation(field: "url", "must be the node's base URL, e.g. http://192.168.1.100:8000")
        }
        guard !token.value.isEmpty else { throw AppError.validation(field: "token", "must be an API key of the node") }
        try await client.approve(parsed, field: "url")
        let now = Timestamp.millis(Date())
        let node = FleetNode(
            id: ID.make("node"),
            name: trimmed,
            url: parsed,
            sealedToken: try box.seal(token),
            createdAt: now,
            updatedAt: now,
            lastSeenAt: nil,
            lastStatus: nil
        )
        try await store.insert(node)
        return node
    }

    package struct Health: Sendable, Encodable {
        package var status: String
        package var detail: String?
    }

    /// Asks the node's `/health` (2 s timeout) and records what it said.
    package func health(_ node: FleetNode) async -> Health {
        var request = HTTPClientRequest(url: node.url.appendingPathComponent("health").absoluteString)
        request.headers.add(name: "Accept", value: "application/json")
        let health: Health
        do {
            let response = try await client.execute(request, timeout: .seconds(2))
            _ = try? await response.body.collect(upTo: 64 << 10)
            health =
                response.status == .ok
                ? Health(status: "online", detail: nil)
                : Health(status: "degraded", detail: "health answered HTTP \(response.status.code)")
        } catch {
            health = Health(status: "offline", detail: "\(node.url.host ?? "?"): \(NetworkErrors.describe(error))")
        }
        try? await store.recordHealth(
            id: node.id,
            status: health.status,
            seen: health.status != "offline",
            now: Timestamp.millis(Date())
        )
        return health
    }

    package struct NodeResult: Sendable, Encodable {
        package var node_id: String
        package var node: String
        package var ok: Bool
        package var status_code: Int?
        /// The node's download (follow it at the node's `/api/v1/downloads/{id}`), when accepted.
        package var download: NodeDownload?
        package var error: String?
    }

    /// Starts the same download on each node at once, with one idempotency key, so repeating the
    /// request does not start it twice anywhere.
    package func download(ref: String, layout: String?, kind: String?, nodes: [FleetNode], idempotencyKey: String) async -> [NodeResult] {
        var body: [String: Any] = ["ref": ref]
        if let layout { body["layout"] = layout }
        if let kind { body["kind"] = kind }
        let payload = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        return await withTaskGroup(of: NodeResult.self) { group in
            for node in nodes {
                group.addTask { await self.start(payload, on: node, idempotencyKey: idempotencyKey) }
            }
            var results: [NodeResult] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.node < $1.node }
        }
    }

    func start(_ payload: Data, on node: FleetNode, idempotencyKey: String) async -> NodeResult {
        var result = NodeResult(node_id: node.id, node: node.name, ok: false, status_code: nil, download: nil, error: nil)
        let token: Secret
        do {
            token = try box.open(node.sealedToken)
        } catch {
            result.error = "\(error)"
            return result
        }
        var request = HTTPClientRequest(url: node.url.appendingPathComponent("api/v1/downloads").absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        request.headers.add(name: "Idempotency-Key", value: idempotencyKey)
        request.body = .bytes(ByteBuffer(data: payload))
        do {
            let response = try await client.execute(request, timeout: .seconds(15))
            let body = try await response.body.collect(upTo: 1 << 20)
            result.status_code = Int(response.status.code)
            if (200..<300).contains(Int(response.status.code)) {
                result.ok = true
                result.download = try? JSONDecoder().decode(NodeDownload.self, from: body)
            } else {
                let detail = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])?["detail"] as? String
                result.error = detail ?? "the node answered HTTP \(response.status.code)"
            }
        } catch {
            result.error = "node unreachable at \(node.url.absoluteString): \(NetworkErrors.describe(error))"
        }
        return result
    }
}

/// What the controller keeps of a node's answer to a download request.
package struct NodeDownload: Codable, Sendable {
    package var id: String
    package var status: String
    package var ref: String
}

extension FleetService {
    /// A download's state on a node (`GET /api/v1/downloads/{id}` there): its status, error and
    /// the paths of its files there.
    package func downloadStatus(_ id: String, on node: FleetNode) async throws -> (status: String, error: String?, paths: [String]) {
        let state = try await downloadState(id, on: node)
        return (state.status, state.error, state.paths)
    }

    /// A node's download with its progress.
    package struct NodeDownloadState: Sendable {
        package var status: String
        package var error: String?
        package var paths: [String]
        package var receivedBytes: Int64?
        package var totalBytes: Int64?
        package var bytesPerSecond: Double?
    }

    package func downloadState(_ id: String, on node: FleetNode) async throws -> NodeDownloadState {
        let token = try box.open(node.sealedToken)
        var request = HTTPClientRequest(url: node.url.appendingPathComponent("api/v1/downloads/\(id)").absoluteString)
        request.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(15))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch let error as AppError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw AppError.unavailable("node \(node.name) unreachable at \(node.url.absoluteString): \(NetworkErrors.describe(error))")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        guard response.status == .ok, let status = object["status"] as? String else {
            throw AppError.unavailable("node \(node.name) answered HTTP \(response.status.code) for download \(id)")
        }
        let paths = (object["files"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        let progress = object["progress"] as? [String: Any]
        return NodeDownloadState(
            status: status,
            error: object["error"] as? String,
            paths: paths,
            receivedBytes: (progress?["received_bytes"] as? NSNumber)?.int64Value,
            totalBytes: (progress?["total_bytes"] as? NSNumber)?.int64Value,
            bytesPerSecond: (progress?["bytes_per_second"] as? NSNumber)?.doubleValue
        )
    }
}
