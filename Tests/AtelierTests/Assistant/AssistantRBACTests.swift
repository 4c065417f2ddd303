import Assistant
import Foundation
import HTTPTypes
import Testing

/// Seed 004's RBAC over every owned admin resource: admins see all; users and web accounts their
/// own; guests read only; another owner's resource is 404 for reads, changes and deletes.
@Suite("Assistant resources: RBAC", .timeLimit(.minutes(3)))
struct AssistantRBACTests {
    /// A resource's collection path and a body that creates one (`n` makes names unique).
    static let resources: [(path: String, body: @Sendable (Int) -> String)] = [
        (
            "/admin/llm/providers",
            { n in
                #"{"name": "p\#(n)", "kind": "openai", "base_url": "http://8.8.8.8:9/v1", "api_key": "sk-abcdefghijklmnop\#(n)", "models": ["m"], "priority": 1}"#
            }
        ),
        ("/admin/chat/sessions", { n in #"{"persona": "anna", "title": "t\#(n)"}"# }),
        ("/admin/tts/presets", { n in #"{"name": "preset\#(n)", "voice": "anna_ru", "speed": 1.2}"# }),
        ("/admin/widgets", { n in #"{"name": "w\#(n)", "persona": "marina", "allowed_origins": ["https://shop.example"]}"# }),
        ("/admin/telegram/bots", { n in #"{"name": "bot\#(n)", "token": "70000\#(n):AAE-fake-token-for-tests_0123456789", "kind": "assistant"}"# }),
    ]

    @Test(
        "each resource: owner (user or web) reads, changes and deletes; another user gets 404; a guest reads and cannot write; an admin sees, changes and deletes all",
        arguments: 0..<5
    )
    func matrix(_ index: Int) async throws {
        let resource = Self.resources[index]
        try await TestApp.run { app in
            let alice = try await app.makeUser("alice")
            let web = try await app.makeUser("webby", role: .web)
            let bob = try await app.makeUser("bob")
            let guest = try await app.makeUser("gus", role: .guest)
            let admin = try await app.login()

            let created = try await app.request(.post, resource.path, token: alice.token, json: resource.body(1))
            #expect(created.status == .created, "\(resource.path): \(String(buffer: created.body))")
            let id = try #require(created.json["id"] as? String)
            let one = "\(resource.path)/\(id)"
            let webs = try await app.request(.post, resource.path, token: web.token, json: resource.body(2))
            #expect(webs.status == .created, "web writes its own")
            let webOne = "\(resource.path)/\(try #require(webs.json["id"] as? String))"
            #expect(try await app.request(.get, webOne, token: web.token).status == .ok, "web reads its own")
            #expect(try await app.request(.put, webOne, token: web.token, json: "{}").status == .ok, "web changes its own")
            #expect(try await app.request(.get, one, token: web.token).status == .notFound, "web does not see alice's")

            #expect(try await app.request(.get, one, token: alice.token).status == .ok)
            #expect(try await app.request(.get, one, token: bob.token).status == .notFound)
            #expect(try await app.request(.put, one, token: bob.token, json: "{}").status == .notFound)
            #expect(try await app.request(.patch, one, token: bob.token, json: "{}").status == .notFound)
            #expect(try await app.request(.delete, one, token: bob.token).status == .notFound)
            #expect(try await app.request(.get, one, token: guest.token).status == .notFound, "a guest reads only its own")

            #expect(try await app.request(.post, resource.path, token: guest.token, json: resource.body(3)).status == .forbidden)
            #expect(try await app.request(.put, one, token: guest.token, json: "{}").status == .forbidden, "a guest changes nothing")
            #expect(try await app.request(.delete, one, token: guest.token).status == .forbidden, "a guest deletes nothing")
            #expect(try await app.request(.get, resource.path, token: guest.token).status == .ok)
            #expect(try await app.request(.get, resource.path).status == .unauthorized)

            let bobs = try await app.request(.get, resource.path, token: bob.token)
            #expect((bobs.json["items"] as? [Any])?.isEmpty == true, "bob sees none of alice's")
            let all = try await app.request(.get, resource.path, token: admin)
            #expect((all.json["items"] as? [Any])?.count == 2, "an admin sees every owner's: \(String(buffer: all.body))")
            #expect(try await app.request(.get, one, token: admin).status == .ok)
            #expect(try await app.request(.put, one, token: admin, json: "{}").status == .ok, "an admin changes anyone's")
            #expect(try await app.request(.delete, webOne, token: admin).status == .noContent, "an admin deletes anyone's")
            #expect(try await app.request(.get, webOne, token: web.token).status == .notFound)

            #expect(try await app.request(.put, one, token: alice.token, json: "{}").status == .ok)
            #expect(try await app.request(.delete, one, token: alice.token).status == .noContent)
            #expect(try await app.request(.get, one, token: alice.token).status == .notFound)
        }
    }
}

/// Guests read and do nothing else, outside `/admin` too: the routes that spend the operator's
/// LLM and speech engines, or write a conversation, refuse them before reading the body.
@Suite("Assistant routes: guests read only", .timeLimit(.minutes(2)))
struct AssistantGuestTests {
    @Test("a guest gets 403 from chat, speech and calls, and can still list models and voices; only admins add providers on private addresses")
    func guestsCannotSpend() async throws {
        try await TestApp.run { app in
            let guest = try await app.makeUser("gus", role: .guest)
            let writes: [(String, String)] = [
                ("/chat", #"{"message": "hi", "persona": "anna"}"#),
                ("/reset_conversation", "{}"),
                ("/v1/chat/completions", TestApp.chat("anna-secretary", "hi")),
                ("/tts", #"{"text": "hi", "voice": "anna_en"}"#),
                ("/v1/audio/speech", #"{"model": "tts-1", "input": "hi", "voice": "anna_en", "response_format": "wav"}"#),
                ("/stt", "{}"),
                ("/v1/audio/transcriptions", "{}"),
                ("/process_call", "{}"),
            ]
            for (path, body) in writes {
                let answer = try await app.request(.post, path, token: guest.token, json: body)
                #expect(answer.status == .forbidden, "\(path): \(answer.status) \(String(buffer: answer.body))")
            }
            #expect(try await app.request(.get, "/v1/models", token: guest.token).status == .ok)
            // A user may not point a provider at the local network, even where the operator allows
            // private hosts for their own (this suite runs with ATELIER_ALLOW_PRIVATE_HOSTS=true).
            let alice = try await app.makeUser("alice")
            let local = #"{"name": "lan", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"], "priority": 1}"#
            let refused = try await app.request(.post, "/admin/llm/providers", token: alice.token, json: local)
            #expect(refused.status == .forbidden && refused.detail.contains("only an admin"), "\(refused.detail)")
            let mapped = local.replacingOccurrences(of: "127.0.0.1", with: "[::ffff:10.0.0.5]")
            #expect(try await app.request(.post, "/admin/llm/providers", token: alice.token, json: mapped).status == .forbidden)
            #expect(try await app.request(.post, "/admin/llm/providers", token: try await app.login(), json: local).status == .created)
            #expect(try await app.request(.get, "/v1/voices", token: guest.token).status == .ok)
        }
    }

    @Test("a provider of an account that is not an admin reaches no private address when requests are sent, whatever its URL says")
    func privateAddressesAtSendTime() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            let alice = try await app.makeUser("alice")
            // As a provider whose name later pointed at the LAN would be (or one stored before
            // the check at create existed): alice's, on 127.0.0.1.
            var record = ProviderRecord(
                ownerID: alice.id,
                shared: false,
                name: "lan",
                baseURL: upstream.baseURL,
                models: ["m"],
                priority: 1,
                now: 1
            )
            record.sealedKey = try app.runtime.secretary.gateway.directory.seal("sk-test-key-000000000001")
            try await ProviderStore(database: app.runtime.database).insert(record)
            try await app.runtime.secretary.gateway.directory.reload()
            let refused = try await app.request(.post, "/v1/chat/completions", token: alice.token, json: TestApp.chat("m", "hi"))
            #expect(refused.status.code >= 500, "\(refused.status) \(refused.detail)")
            #expect(upstream.calls("chat/completions").isEmpty, "the request reached a private address")
            let tested = try await app.request(.post, "/admin/llm/providers/\(record.id)/test", token: alice.token)
            #expect(tested.json["ok"] as? Bool == false && upstream.calls("models").isEmpty, "\(tested.json)")

            // The same URL set by an admin for their own provider is the operator's LAN: it works.
            _ = try await app.addProvider("mine", upstream, models: ["m"], priority: 2)
            let admin = try await app.login()
            #expect(try await app.request(.post, "/v1/chat/completions", token: admin, json: TestApp.chat("m", "hi")).status == .ok)
            #expect(upstream.calls("chat/completions").count == 1)
        }
    }
}
