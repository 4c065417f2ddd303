import Accounts
import AtelierApp
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Seed 004 auth routes", .timeLimit(.minutes(5)))
struct AuthRoutesTests {
    @Test("login returns a bearer token in seed 004's shape, and /me answers with it")
    func loginAndMe() async throws {
        try await TestApp.run { app in
            let response = try await app.request(
                .post,
                "/admin/auth/login",
                json: #"{"username":"admin","password":"\#(TestApp.adminPassword)"}"#
            )
            #expect(response.status == .ok)
            #expect(response.json["token_type"] as? String == "Bearer")
            let token = try #require(response.json["access_token"] as? String)
            #expect(token.split(separator: ".").count == 3)
            let me = try await app.request(.get, "/admin/auth/me", token: token)
            #expect(me.status == .ok)
            #expect(me.json["username"] as? String == "admin")
            #expect(me.json["role"] as? String == "admin")
            #expect(me.json["password_hash"] == nil)
            #expect(!String(buffer: me.body).contains("$2"))
        }
    }

    @Test("wrong password and unknown user get the same 401")
    func wrongCredentials() async throws {
        try await TestApp.run { app in
            let wrong = try await app.request(.post, "/admin/auth/login", json: #"{"username":"admin","password":"nope-nope"}"#)
            let unknown = try await app.request(.post, "/admin/auth/login", json: #"{"username":"ghost","password":"nope-nope"}"#)
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(wrong.detail == unknown.detail)
        }
    }

    @Test("repeated failed logins are throttled with 429 and Retry-After, and the right password then waits too")
    func loginThrottle() async throws {
        try await TestApp.run(["ATELIER_LOGIN_MAX_FAILURES": "3"]) { app in
            for _ in 0..<3 {
                let response = try await app.request(.post, "/admin/auth/login", json: #"{"username":"admin","password":"bad-guess"}"#)
                #expect(response.status == .unauthorized)
            }
            let blocked = try await app.request(
                .post,
                "/admin/auth/login",
                json: #"{"username":"admin","password":"\#(TestApp.adminPassword)"}"#
            )
            #expect(blocked.status == .tooManyRequests)
            let retryAfter = try #require(blocked.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter > 0 && retryAfter <= 900)
            #expect(blocked.detail.contains("wait"))
        }
    }

    @Test("missing, malformed, tampered and expired tokens are 401 with a reason")
    func badTokens() async throws {
        let secret = String(repeating: "s", count: 40)
        try await TestApp.run(["ATELIER_JWT_SECRET": secret]) { app in
            let missing = try await app.request(.get, "/admin/auth/me")
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.wwwAuthenticate] == "Bearer")

            let notBearer = try await app.request(.get, "/admin/auth/me", headers: [.authorization: "Basic abc"])
            #expect(notBearer.status == .unauthorized)

            let token = try await app.login()
            // Same header and signature, a payload that claims a longer lifetime.
            var parts = token.split(separator: ".").map(String.init)
            var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while payload.count % 4 != 0 { payload += "=" }
            let decoded = try #require(Data(base64Encoded: payload))
            var claims = try #require(try JSONSerialization.jsonObject(with: decoded) as? [String: Any])
            claims["exp"] = (claims["exp"] as? Double ?? 0) + 86_400 * 365
            parts[1] = try JSONSerialization.data(withJSONObject: claims).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let tampered = try await app.request(.get, "/admin/auth/me", token: parts.joined(separator: "."))
            #expect(tampered.status == .unauthorized)

            let garbage = try await app.request(.get, "/admin/auth/me", token: "not-a-token")
            #expect(garbage.status == .unauthorized)

            // A token signed with the right key but issued two days ago, with a one-day lifetime.
            let past = WallClock { Date().addingTimeInterval(-2 * 86_400) }
            let oldIssuer = await TokenService(secret: Secret(secret), lifetime: 86_400, clock: past)
            let admin = try #require(try await app.runtime.accounts.users.find(username: "admin"))
            let expired = try await oldIssuer.issue(for: admin).token
            let response = try await app.request(.get, "/admin/auth/me", token: expired)
            #expect(response.status == .unauthorized)
            #expect(response.detail.contains("expired"))

            // The same key with a wrong secret.
            let forger = await TokenService(secret: Secret(String(repeating: "x", count: 40)), lifetime: 3600)
            let forged = try await app.request(.get, "/admin/auth/me", token: try await forger.issue(for: admin).token)
            #expect(forged.status == .unauthorized)
        }
    }

    @Test("status tells whether the caller is authenticated")
    func status() async throws {
        try await TestApp.run { app in
            let anonymous = try await app.request(.get, "/admin/auth/status")
            #expect(anonymous.status == .ok)
            #expect(anonymous.json["authenticated"] as? Bool == false)
            #expect(anonymous.json["user"] is NSNull)
            let token = try await app.login()
            let known = try await app.request(.get, "/admin/auth/status", token: token)
            #expect(known.json["authenticated"] as? Bool == true)
            #expect((known.json["user"] as? [String: Any])?["username"] as? String == "admin")
        }
    }

    @Test("profile can be read, updated, and cleared with null; bad e-mail is 422")
    func profile() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let updated = try await app.request(
                .put,
                "/admin/auth/profile",
                token: token,
                json: #"{"display_name":"Anna","email":"anna@example.com"}"#
            )
            #expect(updated.status == .ok)
            #expect(updated.json["display_name"] as? String == "Anna")
            let read = try await app.request(.get, "/admin/auth/profile", token: token)
            #expect(read.json["email"] as? String == "anna@example.com")
            let partial = try await app.request(.put, "/admin/auth/profile", token: token, json: #"{"email":null}"#)
            #expect(partial.json["email"] is NSNull)
            #expect(partial.json["display_name"] as? String == "Anna")
            let bad = try await app.request(.put, "/admin/auth/profile", token: token, json: #"{"email":"not-an-address"}"#)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.detail.hasPrefix("email"))
        }
    }

    @Test("changing the password invalidates older tokens and needs the current password")
    func changePassword() async throws {
        try await TestApp.run { app in
            let (_, token) = try await app.makeUser("carol")
            let wrong = try await app.request(
                .post,
                "/admin/auth/change-password",
                token: token,
                json: #"{"current_password":"wrong-one","new_password":"brand-new-pass"}"#
            )
            #expect(wrong.status == .forbidden)
            #expect(wrong.detail.contains("current_password"))
            let short = try await app.request(
                .post,
                "/admin/auth/change-password",
                token: token,
                json: #"{"current_password":"password-123","new_password":"short"}"#
            )
            #expect(short.status == .unprocessableContent)
            #expect(short.detail.contains("new_password"))

            // No pause: the token and the change are (almost always) in the same second, and the
            // token must still be refused (issue times are compared in milliseconds).
            let changed = try await app.request(
                .post,
                "/admin/auth/change-password",
                token: token,
                json: #"{"current_password":"password-123","new_password":"brand-new-pass"}"#
            )
            #expect(changed.status == .ok)
            #expect(changed.json["status"] as? String == "ok")
            let old = try await app.request(.get, "/admin/auth/me", token: token)
            #expect(old.status == .unauthorized)
            let fresh = try await app.login("carol", "brand-new-pass")
            #expect(try await app.request(.get, "/admin/auth/me", token: fresh).status == .ok)
        }
    }

    @Test("guests can read their profile but not change it")
    func guestIsReadOnly() async throws {
        try await TestApp.run { app in
            let (_, token) = try await app.makeUser("visitor", role: .guest)
            #expect(try await app.request(.get, "/admin/auth/me", token: token).status == .ok)
            let write = try await app.request(.put, "/admin/auth/profile", token: token, json: #"{"display_name":"V"}"#)
            #expect(write.status == .forbidden)
            let password = try await app.request(
                .post,
                "/admin/auth/change-password",
                token: token,
                json: #"{"current_password":"password-123","new_password":"another-pass"}"#
            )
            #expect(password.status == .forbidden)
        }
    }
}
