import Core
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite("API conventions: errors, limits, request ids", .timeLimit(.minutes(5)))
struct APIConventionTests {
    @Test("malformed JSON is 400, a missing field 422 naming it, a wrong type 422 naming it")
    func badBodies() async throws {
        try await TestApp.run { app in
            let malformed = try await app.request(.post, "/admin/auth/login", json: #"{"username": "admin", "#)
            #expect(malformed.status == .badRequest)
            #expect(malformed.detail.contains("JSON"))
            let missing = try await app.request(.post, "/admin/auth/login", json: #"{"username": "admin"}"#)
            #expect(missing.status == .unprocessableContent)
            #expect(missing.detail == "password: field required")
            let wrongType = try await app.request(.post, "/admin/auth/login", json: #"{"username": 42, "password": "x"}"#)
            #expect(wrongType.status == .unprocessableContent)
            #expect(wrongType.detail.hasPrefix("username"))
            let notObject = try await app.request(.post, "/admin/auth/login", json: #"[1,2,3]"#)
            #expect(notObject.status == .unprocessableContent)
            let empty = try await app.request(.post, "/admin/auth/login")
            #expect(empty.status == .badRequest)
            let null = try await app.request(.post, "/admin/auth/login", json: #"{"username": null, "password": "x"}"#)
            #expect(null.status == .unprocessableContent)
        }
    }

    @Test("a body over the limit is 413, declared or not")
    func oversizeBody() async throws {
        try await TestApp.run(["ATELIER_MAX_BODY_BYTES": "2048"], mode: .live) { app in
            let big = #"{"username":"admin","password":""# + String(repeating: "x", count: 4096) + #""}"#
            let response = try await app.request(.post, "/admin/auth/login", json: big)
            #expect(response.status == .contentTooLarge)
            #expect(response.detail.contains("2048"))
        }
    }

    @Test("unknown routes are a JSON 404; the /v1 group answers in OpenAI's error shape")
    func notFound() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.get, "/no/such/route")
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(!response.detail.isEmpty)
            let openAI = try await app.request(.get, "/v1/nothing-here")
            #expect(openAI.status == .notFound)
            let error = try #require(openAI.json["error"] as? [String: Any])
            #expect(error["message"] is String)
            #expect(error["type"] as? String == "invalid_request_error")
        }
    }

    @Test("a known path with the wrong method is 405 with Allow; HEAD works where GET does")
    func methodNotAllowed() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.patch, "/admin/users/some-id")
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "DELETE, GET, HEAD, PUT")
            #expect(response.detail.contains("PATCH"))
            #expect(try await app.request(.delete, "/health").headers[.allow] == "GET, HEAD")
            #expect(try await app.request(.head, "/health").status == .ok)
        }
    }

    @Test("passwords longer than bcrypt's 72 bytes count in full")
    func longPasswords() async throws {
        try await TestApp.run { app in
            let long = String(repeating: "p", count: 100)
            _ = try await app.makeUser("longpass", password: long + "A")
            let almost = try await app.request(.post, "/admin/auth/login", json: #"{"username":"longpass","password":"\#(long)B"}"#)
            #expect(almost.status == .unauthorized)
            _ = try await app.login("longpass", long + "A")
        }
    }

    @Test("every response carries a request id; a sane incoming one is kept, a hostile one replaced")
    func requestID() async throws {
        try await TestApp.run { app in
            let fresh = try await app.request(.get, "/health")
            let id = try #require(fresh.headers[HTTPField.Name("X-Request-ID")!])
            #expect(id.count == 16)
            let kept = try await app.request(.get, "/health", headers: [HTTPField.Name("X-Request-ID")!: "trace-123"])
            #expect(kept.headers[HTTPField.Name("X-Request-ID")!] == "trace-123")
            let hostile = try await app.request(.get, "/nope", headers: [HTTPField.Name("X-Request-ID")!: "a b\"<script>"])
            #expect(hostile.headers[HTTPField.Name("X-Request-ID")!] != "a b\"<script>")
        }
    }

    @Test("responses never echo secrets: the admin password and token stay out of error bodies")
    func noSecretsInErrors() async throws {
        try await TestApp.run { app in
            let response = try await app.request(
                .post,
                "/admin/auth/login",
                json: #"{"username":"admin","password":"wrong-\#(TestApp.adminPassword)"}"#
            )
            #expect(!String(buffer: response.body).contains(TestApp.adminPassword))
            let token = try await app.login()
            let bad = try await app.request(.get, "/admin/auth/me", token: token + "x")
            #expect(!String(buffer: bad.body).contains(token))
        }
    }
}
