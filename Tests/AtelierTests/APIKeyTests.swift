import Accounts
import Core
import Foundation
import HTTPTypes
import HummingbirdTesting
import SQLKit
import Testing

@Suite("API keys and owner isolation", .timeLimit(.minutes(5)))
struct APIKeyTests {
    @Test("a new key is shown once and works as Bearer and as X-Token")
    func createAndUse() async throws {
        try await TestApp.run { app in
            let (_, token) = try await app.makeUser("hank")
            let created = try await app.request(.post, "/api/v1/keys", token: token, json: #"{"name":"laptop"}"#)
            #expect(created.status == .created)
            let key = try #require(created.json["key"] as? String)
            #expect(key.hasPrefix("atk_"))
            let id = try #require(created.json["id"] as? String)

            let bearer = try await app.request(.get, "/admin/auth/me", token: key)
            #expect(bearer.json["username"] as? String == "hank")
            let xToken = try await app.request(.get, "/admin/auth/me", headers: [Authenticator.xToken: key])
            #expect(xToken.json["username"] as? String == "hank")

            let listed = try await app.request(.get, "/api/v1/keys", token: token)
            let items = try #require(listed.json["items"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(items[0]["key"] == nil)
            #expect(!String(buffer: listed.body).contains(key))

            let fetched = try await app.request(.get, "/api/v1/keys/\(id)", token: token)
            #expect(fetched.json["key"] == nil)
        }
    }

    @Test("another owner's key is 404 for reading and revoking; admins see every key")
    func ownerIsolation() async throws {
        try await TestApp.run { app in
            let (_, ivan) = try await app.makeUser("ivan")
            let (_, jane) = try await app.makeUser("jane")
            let created = try await app.request(.post, "/api/v1/keys", token: ivan, json: #"{"name":"ivan's"}"#)
            let id = try #require(created.json["id"] as? String)

            #expect(try await app.request(.get, "/api/v1/keys/\(id)", token: jane).status == .notFound)
            #expect(try await app.request(.delete, "/api/v1/keys/\(id)", token: jane).status == .notFound)
            let janeList = try await app.request(.get, "/api/v1/keys", token: jane)
            #expect((janeList.json["items"] as? [Any])?.count == 0)

            let admin = try await app.login()
            let all = try await app.request(.get, "/api/v1/keys", token: admin)
            #expect((all.json["items"] as? [Any])?.count == 1)
            #expect(try await app.request(.get, "/api/v1/keys/\(id)", token: admin).status == .ok)
        }
    }

    @Test("a revoked, expired, wrong or disabled owner's key is 401")
    func rejectedKeys() async throws {
        try await TestApp.run { app in
            let (id, token) = try await app.makeUser("kate")
            let created = try await app.request(.post, "/api/v1/keys", token: token, json: #"{"name":"k"}"#)
            let key = try #require(created.json["key"] as? String)
            let keyID = try #require(created.json["id"] as? String)

            // Right prefix, wrong secret.
            let forged = String(key.dropLast(4)) + "AAAA"
            #expect(try await app.request(.get, "/admin/auth/me", token: forged).status == .unauthorized)
            #expect(try await app.request(.get, "/admin/auth/me", token: "atk_short").status == .unauthorized)

            let admin = try await app.login()
            _ = try await app.request(.post, "/admin/users/\(id)/disable", token: admin)
            #expect(try await app.request(.get, "/admin/auth/me", token: key).status == .unauthorized)
            _ = try await app.request(.post, "/admin/users/\(id)/enable", token: admin)

            let revoked = try await app.request(.delete, "/api/v1/keys/\(keyID)", token: token)
            #expect(revoked.status == .ok)
            #expect(!(revoked.json["revoked_at"] is NSNull))
            let after = try await app.request(.get, "/admin/auth/me", token: key)
            #expect(after.status == .unauthorized)
            #expect(after.detail.contains("revoked"))

            // An expired key: made through the service with a past expiry.
            let owner = try #require(try await app.runtime.accounts.users.find(id: id))
            let (expiring, plaintext) = try await app.runtime.accounts.createKey(owner: owner, name: "old", expiresInDays: 1)
            var stale = expiring
            stale.expiresAt = 1
            try await app.runtime.database.sql.raw("UPDATE api_keys SET expires_at = 1 WHERE id = \(bind: stale.id)").run()
            let expired = try await app.request(.get, "/admin/auth/me", token: plaintext.value)
            #expect(expired.status == .unauthorized)
            #expect(expired.detail.contains("expired"))
        }
    }

    @Test("guests cannot create keys; bad key requests are 422")
    func validation() async throws {
        try await TestApp.run { app in
            let (_, guest) = try await app.makeUser("guesty", role: .guest)
            #expect(try await app.request(.post, "/api/v1/keys", token: guest, json: #"{"name":"g"}"#).status == .forbidden)
            let (_, user) = try await app.makeUser("lena")
            let empty = try await app.request(.post, "/api/v1/keys", token: user, json: #"{"name":"  "}"#)
            #expect(empty.status == .unprocessableContent)
            let days = try await app.request(.post, "/api/v1/keys", token: user, json: #"{"name":"n","expires_in_days":0}"#)
            #expect(days.detail.hasPrefix("expires_in_days"))
        }
    }
}
