import Accounts
import Core
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("Admin user management", .timeLimit(.minutes(5)))
struct UserAdminTests {
    @Test("admin creates, reads, updates and deletes a user")
    func crud() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            let created = try await app.request(
                .post,
                "/admin/users",
                token: admin,
                json: """
                    {"username": "Dave", "password": "password-123", "role": "web", "display_name": "Dave D"}
                    """
            )
            #expect(created.status == .created)
            #expect(created.json["username"] as? String == "dave")
            #expect(created.json["role"] as? String == "web")
            let id = try #require(created.json["id"] as? String)

            let read = try await app.request(.get, "/admin/users/\(id)", token: admin)
            #expect(read.json["display_name"] as? String == "Dave D")

            let updated = try await app.request(.put, "/admin/users/\(id)", token: admin, json: #"{"role":"user"}"#)
            #expect(updated.json["role"] as? String == "user")
            #expect(updated.json["display_name"] as? String == "Dave D")

            #expect(try await app.request(.delete, "/admin/users/\(id)", token: admin).status == .noContent)
            #expect(try await app.request(.get, "/admin/users/\(id)", token: admin).status == .notFound)
        }
    }

    @Test("duplicate usernames are 409, bad fields are 422 naming the field")
    func validation() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            _ = try await app.makeUser("erin")
            let duplicate = try await app.request(
                .post,
                "/admin/users",
                token: admin,
                json: #"{"username":"ERIN","password":"password-123"}"#
            )
            #expect(duplicate.status == .conflict)
            let badRole = try await app.request(
                .post,
                "/admin/users",
                token: admin,
                json: #"{"username":"frank","password":"password-123","role":"root"}"#
            )
            #expect(badRole.status == .unprocessableContent)
            #expect(badRole.detail.hasPrefix("role"))
            let badName = try await app.request(
                .post,
                "/admin/users",
                token: admin,
                json: #"{"username":"a b","password":"password-123"}"#
            )
            #expect(badName.detail.hasPrefix("username"))
            let shortPassword = try await app.request(
                .post,
                "/admin/users",
                token: admin,
                json: #"{"username":"frank","password":"123"}"#
            )
            #expect(shortPassword.status == .unprocessableContent)
            #expect(shortPassword.detail.hasPrefix("password"))
        }
    }

    @Test("only admins manage users: user, web and guest get 403, no token 401", arguments: [Role.user, .web, .guest])
    func rbac(role: Role) async throws {
        try await TestApp.run { app in
            let (id, token) = try await app.makeUser("member", role: role)
            #expect(try await app.request(.get, "/admin/users", token: token).status == .forbidden)
            #expect(try await app.request(.get, "/admin/users/\(id)", token: token).status == .forbidden)
            #expect(
                try await app.request(
                    .post,
                    "/admin/users",
                    token: token,
                    json: #"{"username":"x1x","password":"password-123"}"#
                ).status == .forbidden
            )
            #expect(try await app.request(.put, "/admin/users/\(id)", token: token, json: #"{"role":"admin"}"#).status == .forbidden)
            #expect(try await app.request(.delete, "/admin/users/\(id)", token: token).status == .forbidden)
            #expect(try await app.request(.get, "/admin/users").status == .unauthorized)
        }
    }

    @Test("a disabled user's token and login stop working; enabling restores them")
    func disable() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            let (id, token) = try await app.makeUser("gina")
            #expect(try await app.request(.post, "/admin/users/\(id)/disable", token: admin).json["disabled"] as? Bool == true)
            let rejected = try await app.request(.get, "/admin/auth/me", token: token)
            #expect(rejected.status == .unauthorized)
            #expect(rejected.detail.contains("disabled"))
            let login = try await app.request(.post, "/admin/auth/login", json: #"{"username":"gina","password":"password-123"}"#)
            #expect(login.status == .unauthorized)
            #expect(try await app.request(.post, "/admin/users/\(id)/enable", token: admin).status == .ok)
            #expect(try await app.request(.get, "/admin/auth/me", token: token).status == .ok)
        }
    }

    @Test("the last active admin cannot be demoted, disabled or deleted")
    func lastAdmin() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            let me = try await app.request(.get, "/admin/auth/me", token: admin)
            let id = try #require(me.json["id"] as? String)
            #expect(try await app.request(.put, "/admin/users/\(id)", token: admin, json: #"{"role":"user"}"#).status == .conflict)
            #expect(try await app.request(.post, "/admin/users/\(id)/disable", token: admin).status == .conflict)
            #expect(try await app.request(.delete, "/admin/users/\(id)", token: admin).status == .conflict)
            _ = try await app.makeUser("second", role: .admin)
            #expect(try await app.request(.put, "/admin/users/\(id)", token: admin, json: #"{"role":"user"}"#).status == .ok)
        }
    }

    @Test("the user list pages with limit and cursor, without repeats")
    func pagination() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            for name in ["u-one", "u-two", "u-three", "u-four"] { _ = try await app.makeUser(name) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let query = "/admin/users?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await app.request(.get, query, token: admin)
                #expect(page.status == .ok)
                let items = try #require(page.json["items"] as? [[String: Any]])
                #expect(items.count <= 2)
                seen += items.compactMap { $0["username"] as? String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen.count == 5)
            #expect(Set(seen).count == 5)
            #expect(try await app.request(.get, "/admin/users?limit=0", token: admin).status == .unprocessableContent)
            #expect(try await app.request(.get, "/admin/users?limit=abc", token: admin).status == .unprocessableContent)
            #expect(try await app.request(.get, "/admin/users?cursor=%%%", token: admin).status == .unprocessableContent)
            // "AA" decodes to a NUL byte, which PostgreSQL refuses in a bind (that was a 500).
            for list in ["/admin/users", "/api/v1/generations"] {
                let crafted = try await app.request(.get, "\(list)?cursor=AA", token: admin)
                #expect(crafted.status == .unprocessableContent, "\(list): \(String(buffer: crafted.body))")
            }
        }
    }
}
