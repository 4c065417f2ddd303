import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Storage

/// `/health`, `/metrics`, `/openapi.json`, `/docs` and `/redoc`.
enum SystemRoutes {
    struct HealthResponse: ResponseEncodable {
        var status: String
        var version: String
        var database: String
        var database_kind: String
        var services: [String: String]
        /// Seed 004: the LLM provider answering first ("none" when none is configured).
        var llm_backend: String
    }

    /// What the secretary adds to /health: `tts`, `stt` and `llm` states and the first backend.
    struct AssistantHealth: Sendable {
        var services: [String: String]
        var llmBackend: String?
    }

    static func registerHealth(on table: RouteTable, database: Database, assistant: @escaping @Sendable () -> AssistantHealth?) {
        let schema = Schema.object(
            [
                ("status", Schema.string(enum: ["healthy", "degraded"])), ("version", Schema.string),
                ("database", Schema.string(enum: ["connected", "disconnected"])),
                ("database_kind", Schema.string(enum: DatabaseKind.allCases.map(\.rawValue))),
                ("services", ["type": "object", "additionalProperties": Schema.string]),
                ("llm_backend", Schema.string),
            ],
            required: ["status", "version", "database", "database_kind", "services"]
        )
        table.get(
            "/health",
            OperationDoc(
                "Health of the server and each subsystem",
                tags: ["system", "compat"],
                auth: .none,
                responses: [.init(200, "Healthy", schema: schema), .init(503, "A subsystem is down", schema: schema)]
            )
        ) { _, _ in
            let connected = await database.ping()
            let secretary = assistant()
            var services = ["http": "running", "database": connected ? "running" : "unavailable"]
            services.merge(secretary?.services ?? [:]) { $1 }
            let body = HealthResponse(
                status: connected ? "healthy" : "degraded",
                version: AtelierVersion.current,
                database: connected ? "connected" : "disconnected",
                database_kind: database.kind.rawValue,
                services: services,
                llm_backend: secretary?.llmBackend ?? "none"
            )
            return JSONResponse(connected ? .ok : .serviceUnavailable, body)
        }
    }

    static func registerMetrics(on table: RouteTable, metrics: HTTPMetrics) {
        table.get(
            "/metrics",
            OperationDoc(
                "Prometheus metrics (text exposition format)",
                tags: ["system"],
                auth: .none,
                responses: [.init(200, "Metrics", contentType: "text/plain")]
            )
        ) { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render()))
            )
        }
    }

    /// Registers the OpenAPI document and its viewers. Call last: the document covers every route
    /// registered before, plus these three.
    static func registerOpenAPI(on table: RouteTable) throws {
        table.record(
            .get,
            "/openapi.json",
            OperationDoc(
                "This API's OpenAPI 3.1 document",
                tags: ["system"],
                auth: .none,
                responses: [.init(200, "OpenAPI document")]
            )
        )
        table.record(
            .get,
            "/docs",
            OperationDoc(
                "Interactive API documentation (Swagger UI)",
                tags: ["system"],
                auth: .none,
                responses: [.init(200, "HTML page", contentType: "text/html")]
            )
        )
        table.record(
            .get,
            "/redoc",
            OperationDoc(
                "API reference (ReDoc), as FastAPI serves it",
                tags: ["system", "compat"],
                auth: .none,
                responses: [.init(200, "HTML page", contentType: "text/html")]
            )
        )
        let document = try openAPIDocument(table)
        let bytes = ByteBuffer(data: try document.jsonData())
        table.router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: bytes))
        }
        let page = ByteBuffer(string: docsPage)
        table.router.get("/docs") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: page))
        }
        let redoc = ByteBuffer(string: redocPage)
        table.router.get("/redoc") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: redoc))
        }
    }

    static func openAPIDocument(_ table: RouteTable) throws -> JSONValue {
        OpenAPIDocument.build(
            title: "Atelier",
            version: AtelierVersion.current,
            description:
                "Run your own AI image and assistant business on your own GPUs and accounts. Routes tagged `compat` keep the exact shapes of the documents Atelier replaces.",
            routes: table.routes,
            schemas: table.schemas
        )
    }

    static let docsPage = """
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <title>Atelier API</title>
          <link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
        </head>
        <body>
          <div id="swagger-ui"><p>Loading the API explorer… The raw document is at <a href="/openapi.json">/openapi.json</a>.</p></div>
          <script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin></script>
          <script>
            window.onload = () => { window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" }); };
          </script>
        </body>
        </html>
        """

    /// FastAPI's `get_redoc_html` page (seed 001 links to `/redoc`): ReDoc 2's standalone bundle
    /// from jsDelivr, reading `/openapi.json`.
    static let redocPage = """
        <!DOCTYPE html>
        <html>
        <head>
        <title>Atelier - ReDoc</title>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700" rel="stylesheet">
        <style>
          body { margin: 0; padding: 0; }
        </style>
        </head>
        <body>
        <noscript>
            ReDoc requires Javascript to function. Please enable it to browse the documentation.
        </noscript>
        <redoc spec-url="/openapi.json"></redoc>
        <script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"> </script>
        </body>
        </html>
        """
}

package enum AtelierVersion {
    package static let current = "0.1.0"
}
