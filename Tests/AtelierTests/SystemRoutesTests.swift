import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("Health, metrics and the OpenAPI document", .timeLimit(.minutes(5)))
struct SystemRoutesTests {
    @Test("/health reports status, version, database and services")
    func health() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.get, "/health")
            #expect(response.status == .ok)
            #expect(response.json["status"] as? String == "healthy")
            #expect(response.json["database"] as? String == "connected")
            #expect(response.json["database_kind"] as? String == TestDatabase.kind.rawValue)
            #expect(response.json["version"] as? String != nil)
            let services = try #require(response.json["services"] as? [String: String])
            #expect(services["database"] == "running")
        }
    }

    @Test("/health answers 503 degraded when the database is gone")
    func healthDegraded() async throws {
        try await TestApp.run { app in
            await app.runtime.database.close()
            let response = try await app.request(.get, "/health")
            #expect(response.status == .serviceUnavailable)
            #expect(response.json["status"] as? String == "degraded")
            #expect(response.json["database"] as? String == "disconnected")
        }
    }

    @Test("/metrics counts requests by route pattern")
    func metrics() async throws {
        try await TestApp.run { app in
            _ = try await app.request(.get, "/health")
            _ = try await app.request(.get, "/admin/users/abc")
            let response = try await app.request(.get, "/metrics")
            let text = String(buffer: response.body)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(text.contains(#"http_requests_total{method="GET",route="/health",status="200"} 1"#))
            #expect(text.contains(#"route="/admin/users/{id}",status="401""#))
            #expect(text.contains("http_request_duration_seconds_bucket"))
            // The /metrics request itself is the one being answered.
            #expect(text.contains("http_requests_in_flight 1"), "\(text.split(separator: "\n").filter { $0.contains("in_flight") })")
        }
    }

    @Test("/openapi.json is OpenAPI 3.1 and documents every route with its errors")
    func openAPI() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.get, "/openapi.json")
            #expect(response.status == .ok)
            #expect(response.json["openapi"] as? String == "3.1.0")
            let paths = try #require(response.json["paths"] as? [String: [String: Any]])
            let expected: [(String, String)] = [
                ("/admin/auth/login", "post"), ("/admin/auth/me", "get"), ("/admin/auth/status", "get"),
                ("/admin/auth/profile", "get"), ("/admin/auth/profile", "put"), ("/admin/auth/change-password", "post"),
                ("/admin/users", "get"), ("/admin/users", "post"), ("/admin/users/{id}", "get"),
                ("/admin/users/{id}", "put"), ("/admin/users/{id}", "delete"), ("/admin/users/{id}/disable", "post"),
                ("/api/v1/keys", "get"), ("/api/v1/keys", "post"), ("/api/v1/keys/{id}", "delete"),
                ("/health", "get"), ("/metrics", "get"), ("/openapi.json", "get"), ("/docs", "get"),
            ]
            for (path, method) in expected {
                let operation = try #require(paths[path]?[method] as? [String: Any], "\(method) \(path) missing")
                let responses = try #require(operation["responses"] as? [String: Any])
                #expect(!responses.isEmpty)
            }
            let login = try #require(paths["/admin/auth/login"]?["post"] as? [String: Any])
            let loginResponses = try #require(login["responses"] as? [String: Any])
            for status in ["200", "400", "401", "413", "422", "429"] {
                #expect(loginResponses[status] != nil, "login lacks \(status)")
            }
            let tags = try #require(login["tags"] as? [String])
            #expect(tags.contains("compat"))
            let docs = try await app.request(.get, "/docs")
            #expect(String(buffer: docs.body).contains("/openapi.json"))
        }
    }

    @Test("/redoc serves FastAPI's ReDoc page reading /openapi.json, and the document lists it")
    func redoc() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.get, "/redoc")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
            let page = String(buffer: response.body)
            #expect(page.contains(#"<redoc spec-url="/openapi.json"></redoc>"#))
            #expect(page.contains("redoc.standalone.js"))
            #expect(page.contains("<title>Atelier - ReDoc</title>"))
            let document = try await app.request(.get, "/openapi.json")
            let paths = try #require(document.json["paths"] as? [String: [String: Any]])
            #expect(paths["/redoc"]?["get"] != nil)
        }
    }
}
