import Core
import Foundation
import HTTPTypes
import Hummingbird

/// The controller's fleet API (admins only): register GPU nodes, see their health, and send one
/// download to all or some of them.
package enum FleetRoutes {
    struct NodeRequest: Decodable {
        var name: String
        var url: String
        var token: String
    }

    struct NodeResponse: ResponseEncodable {
        var id: String
        var name: String
        var url: String
        var created_at: Date
        var last_seen_at: Date?
        var status: String?
        var detail: String?

        init(_ node: FleetNode, health: FleetService.Health? = nil) {
            id = node.id
            name = node.name
            url = node.url.absoluteString
            created_at = Timestamp.date(node.createdAt)
            last_seen_at = node.lastSeenAt.map(Timestamp.date)
            status = health?.status ?? node.lastStatus
            detail = health?.detail
        }
    }

    struct NodeList: ResponseEncodable {
        var items: [NodeResponse]
    }

    struct FanOutRequest: Decodable {
        var ref: String
        var layout: String?
        var kind: String?
        var nodes: [String]?
    }

    struct FanOutResponse: ResponseEncodable {
        var ref: String
        var results: [FleetService.NodeResult]
    }

    package static func register(on table: RouteTable, fleet: FleetService) {
        let tags = ["fleet"]
        let node = Schema.object([
            ("id", Schema.string), ("name", Schema.string), ("url", Schema.string), ("created_at", Schema.dateTime),
            ("last_seen_at", Schema.nullable(Schema.dateTime)), ("status", Schema.nullable(Schema.string(enum: ["online", "degraded", "offline"]))),
            ("detail", Schema.nullable(Schema.string)),
        ])
        table.schema("FleetNode", node)

        table.get(
            "/api/v1/fleet/nodes",
            OperationDoc(
                "Registered nodes, each health-checked now (2 s timeout)",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(200, "Nodes", schema: Schema.object([("items", Schema.array(Schema.ref("FleetNode")))]))]
            )
        ) { _, context in
            _ = try context.require(.admin)
            let nodes = try await fleet.store.all()
            let checked = await withTaskGroup(of: NodeResponse.self) { group in
                for node in nodes { group.addTask { NodeResponse(node, health: await fleet.health(node)) } }
                var all: [NodeResponse] = []
                for await item in group { all.append(item) }
                return all.sorted { $0.name < $1.name }
            }
            return NodeList(items: checked)
        }

        table.post(
            "/api/v1/fleet/nodes",
            OperationDoc(
                "Register a node: its base URL and an API key made on it (`atelier key create` there)",
                tags: tags,
                auth: .role(.admin),
                request: Schema.object(
                    [
                        ("name", Schema.string(minLength: 1, maxLength: HubBounds.nodeName)),
                        ("url", Schema.string(minLength: 1, maxLength: HubBounds.url)),
                        (
                            "token",
                            Schema.string(
                                minLength: 1,
                                maxLength: HubBounds.nodeToken,
                                description: "The node's API key; stored encrypted, never shown again"
                            )
                        ),
                    ],
                    required: ["name", "url", "token"]
                ),
                responses: [.init(201, "Registered", schema: Schema.ref("FleetNode"))],
                errors: [409]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let body = try await request.decodeJSON(NodeRequest.self, context: context)
            let node = try await fleet.register(name: body.name, url: body.url, token: Secret(body.token))
            return JSONResponse(.created, NodeResponse(node, health: await fleet.health(node)))
        }

        table.delete(
            "/api/v1/fleet/nodes/{id}",
            OperationDoc(
                "Forget a node",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(204, "Removed")]
            )
        ) { _, context in
            _ = try context.require(.admin)
            let id = try context.parameters.require("id")
            guard let node = try await fleet.store.find(id) else { throw AppError.notFound("node \(id) is not registered") }
            try await fleet.store.delete(id: node.id)
            return Response(status: .noContent)
        }

        table.post(
            "/api/v1/fleet/downloads",
            OperationDoc(
                "Send one download to all nodes (or the named ones) at once; a result per node",
                tags: tags,
                auth: .role(.admin),
                request: Schema.object(
                    [
                        ("ref", Schema.string(minLength: 1, maxLength: HubBounds.ref)),
                        ("layout", Schema.nullable(Schema.string(maxLength: HubBounds.layout))),
                        ("kind", Schema.nullable(Schema.string(enum: ModelKind.allCases.map(\.rawValue)))),
                        ("nodes", Schema.nullable(Schema.array(Schema.string(maxLength: HubBounds.nodeName), maxItems: HubBounds.fanOutNodes))),
                    ],
                    required: ["ref"]
                ),
                parameters: [.header("Idempotency-Key", "Repeat safely: each node sees the same key")],
                responses: [
                    .init(
                        200,
                        "Per-node results",
                        schema: Schema.object([
                            ("ref", Schema.string),
                            (
                                "results",
                                Schema.array(
                                    Schema.object([
                                        ("node_id", Schema.string), ("node", Schema.string), ("ok", Schema.boolean),
                                        ("status_code", Schema.nullable(Schema.integer)),
                                        (
                                            "download",
                                            Schema.nullable(
                                                Schema.object([("id", Schema.string), ("status", Schema.string), ("ref", Schema.string)])
                                            )
                                        ),
                                        ("error", Schema.nullable(Schema.string)),
                                    ])
                                )
                            ),
                        ])
                    )
                ]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let body = try await request.decodeJSON(FanOutRequest.self, context: context)
            _ = try HubReference.parse(body.ref)
            var targets = try await fleet.store.all()
            if let names = body.nodes {
                var chosen: [FleetNode] = []
                for name in names {
                    guard let node = targets.first(where: { $0.id == name || $0.name == name }) else {
                        throw AppError.validation(field: "nodes", "'\(name)' is not a registered node")
                    }
                    chosen.append(node)
                }
                targets = chosen
            }
            guard !targets.isEmpty else { throw AppError.conflict("no nodes are registered; add one with POST /api/v1/fleet/nodes") }
            let key = try IdempotencyKey.from(request) ?? ID.make("fan")
            let results = await fleet.download(ref: body.ref, layout: body.layout, kind: body.kind, nodes: targets, idempotencyKey: key)
            return FanOutResponse(ref: body.ref, results: results)
        }
    }
}
