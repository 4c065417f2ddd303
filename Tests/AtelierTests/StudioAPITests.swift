import Core
import Foundation
import HTTPTypes
import NIOCore
import SQLKit
import Testing

/// Seed 002's HTTP API for its web front-end, and CORS for the origins in ATELIER_CORS_ORIGINS.
@Suite("Studio: seed 002's HTTP API and CORS", .timeLimit(.minutes(2)))
struct StudioAPITests {
    @Test("GET /, GET /api/user/{id} (web or admin only), /api/models with the person's trained models, POST /api/train's clear refusals")
    func seedRoutes() async throws {
        try await TestApp.run { app in
            let root = try await app.request(.get, "/")
            #expect(root.status == .ok)
            #expect(root.json["status"] as? String == "ok")

            let database = app.runtime.database
            try await database.sql.raw(
                """
                INSERT INTO "User" (user_id, username, first_name, last_name, activation_date, tokens_left, tokens_spent, language_code,
                    referral_code, is_blocked, bot_blocked, last_active_at)
                VALUES (555, 'anna', 'Anna', 'K', 1765000000000, 0, 0, 'ru', 'CODE555', 0, 0, 1765000000000)
                """
            ).run()
            _ = try await app.runtime.ledger.credit("tg:555", tokens: 12, kind: "grant", reason: "test", externalKey: nil)
            try await database.sql.raw(
                """
                INSERT INTO "Model" (user_id, name, trigger_word, status, bot_id, created_at, updated_at)
                VALUES (555, 'Anna 1', 'tok555x', 'ready', 'bot_x', 1765000000000, 1765000000000)
                """
            ).run()

            #expect(try await app.request(.get, "/api/user/555").status == .unauthorized)
            let user = try await app.makeUser("plain")
            #expect(try await app.request(.get, "/api/user/555", token: user.token).status == .forbidden)
            let web = try await app.makeUser("frontend", role: .web)
            let anna = try await app.request(.get, "/api/user/555", token: web.token)
            #expect(anna.status == .ok, "\(anna.detail)")
            #expect(anna.json["tokens_left"] as? Int == 12, "the ledger's figure")
            #expect(anna.json["username"] as? String == "anna")
            #expect((anna.json["models"] as? [[String: Any]])?.first?["trigger_word"] as? String == "tok555x")
            #expect(try await app.request(.get, "/api/user/556", token: web.token).status == .notFound)
            let bad = try await app.request(.get, "/api/user/abc", token: web.token)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.detail.hasPrefix("user_id"))

            let everyone = try await app.request(.get, "/api/models")
            #expect(everyone.status == .ok)
            let models = try await app.request(.get, "/api/models?user_id=555", token: web.token)
            let list = try #require(try JSONSerialization.jsonObject(with: Data(buffer: models.body)) as? [[String: Any]])
            #expect(list.contains { $0["key"] as? String == "own:1" || ($0["name"] as? String == "Anna 1" && $0["status"] as? String == "ready") })
            #expect(try await app.request(.get, "/api/models?user_id=555").status == .unauthorized, "a person's models need credentials")

            let train = try await app.request(.post, "/api/train", token: web.token, json: #"{"user_id": 555}"#)
            #expect(train.status == .serviceUnavailable, "\(train.detail)")
            #expect(train.detail.contains("studio bot") || train.detail.contains("training"))
            let noUser = try await app.request(.post, "/api/train", token: web.token, json: #"{"name": "x"}"#)
            #expect(noUser.status == .unprocessableContent)
        }
    }

    @Test("CORS: a listed origin gets its headers (also on errors) and preflights are answered; another origin gets none")
    func cors() async throws {
        try await TestApp.run(["ATELIER_CORS_ORIGINS": "https://app.example.com, https://admin.example.com"]) { app in
            let allowed = try await app.request(.get, "/", headers: [.origin: "https://app.example.com"])
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(allowed.headers[.vary] == "Origin")
            let error = try await app.request(.get, "/api/user/1", headers: [.origin: "https://admin.example.com"])
            #expect(error.status == .unauthorized)
            #expect(error.headers[.accessControlAllowOrigin] == "https://admin.example.com")
            let preflight = try await app.request(
                .options,
                "/api/user/1",
                headers: [.origin: "https://app.example.com", .accessControlRequestMethod: "GET", .accessControlRequestHeaders: "authorization"]
            )
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("GET") == true)
            #expect(preflight.headers[.accessControlAllowHeaders] == "authorization")
            let other = try await app.request(.get, "/", headers: [.origin: "https://evil.example.com"])
            #expect(other.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test("CORS is off by default: no origin gets its headers, and a preflight is not approved")
    func corsOffByDefault() async throws {
        try await TestApp.run { app in
            let plain = try await app.request(.get, "/", headers: [.origin: "https://app.example.com"])
            #expect(plain.status == .ok)
            #expect(plain.headers[.accessControlAllowOrigin] == nil)
            let preflight = try await app.request(
                .options,
                "/api/user/1",
                headers: [.origin: "https://app.example.com", .accessControlRequestMethod: "GET"]
            )
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
            #expect(preflight.headers[.accessControlAllowMethods] == nil)
        }
    }
}
