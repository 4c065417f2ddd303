import Foundation
import HTTPTypes
import Testing

/// `/admin/personas`: admins add, change and remove personas; everyone signed in reads them; a
/// new persona is a model at once, with its prompt, and its default provider goes first.
@Suite("Personas", .timeLimit(.minutes(3)))
struct PersonaTests {
    @Test("an admin adds a persona: it is a model at once, its prompt goes first, its provider first; others read it but cannot change it")
    func lifecycle() async throws {
        let first = try await FakeOpenAI.start(models: ["m1"], apiKey: "sk-test-key-000000000001")
        let second = try await FakeOpenAI.start(models: ["m2"], apiKey: "sk-test-key-000000000002")
        defer {
            Task {
                await first.stop()
                await second.stop()
            }
        }
        try await TestApp.run { app in
            try await app.addProvider("primary", first, models: ["m1"], priority: 1)
            try await app.addProvider("backup", second, models: ["m2"], priority: 2, key: "sk-test-key-000000000002")
            let admin = try await app.login()
            let (_, user) = try await app.makeUser("olga")

            let created = try await app.request(
                .post,
                "/admin/personas",
                token: admin,
                json:
                    #"{"name": "olga_desk", "display_name": "Olga", "system_prompt": "You are Olga, who answers in haiku.", "voice": "marina_en", "language": "en", "provider": "backup"}"#
            )
            #expect(created.status == .created, "\(created.detail)")
            #expect(created.json["provider"] as? String == "backup")
            let listed = try await app.request(.get, "/admin/personas", token: user)
            let names = (listed.json["items"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
            #expect(names.contains("olga_desk") && names.contains("anna"), "\(names)")

            let models = try await app.request(.get, "/v1/models", token: user)
            let ids = (models.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(ids.contains("olga_desk-secretary-primary"), "\(ids)")

            // Through /chat the persona's own provider answers first, with its prompt.
            let chat = try await app.request(.post, "/chat", token: user, json: #"{"message": "hello", "persona": "olga_desk"}"#)
            #expect(chat.status == .ok, "\(chat.detail)")
            let sent = try #require(second.calls("chat/completions").last, "the persona's provider (backup) answered, not the first by priority")
            let messages = try #require(sent.json["messages"] as? [[String: Any]])
            #expect(messages.first?["content"] as? String == "You are Olga, who answers in haiku.")
            #expect(first.calls("chat/completions").isEmpty)

            // A change reaches the next request.
            let changed = try await app.request(
                .patch,
                "/admin/personas/olga_desk",
                token: admin,
                json: #"{"system_prompt": "You are Olga, brief.", "provider": null}"#
            )
            #expect(changed.status == .ok, "\(changed.detail)")
            #expect(changed.json["provider"] is NSNull || changed.json["provider"] == nil)
            _ = try await app.request(.post, "/reset_conversation", token: user, json: #"{"persona": "olga_desk"}"#)
            _ = try await app.request(.post, "/chat", token: user, json: #"{"message": "again", "persona": "olga_desk"}"#)
            let after = try #require(first.calls("chat/completions").last, "without its own provider, priority decides")
            #expect((after.json["messages"] as? [[String: Any]])?.first?["content"] as? String == "You are Olga, brief.")

            // Only admins change personas; mistakes are named.
            #expect(try await app.request(.patch, "/admin/personas/olga_desk", token: user, json: #"{"voice": "anna_en"}"#).status == .forbidden)
            #expect(try await app.request(.delete, "/admin/personas/olga_desk", token: user).status == .forbidden)
            let badName = try await app.request(.post, "/admin/personas", token: admin, json: #"{"name": "Olga Desk", "system_prompt": "x"}"#)
            #expect(badName.status == .unprocessableContent && badName.detail.contains("name"))
            let taken = try await app.request(.post, "/admin/personas", token: admin, json: #"{"name": "anna", "system_prompt": "x"}"#)
            #expect(taken.status == .conflict)
            let voice = try await app.request(.patch, "/admin/personas/olga_desk", token: admin, json: #"{"voice": "robot"}"#)
            #expect(voice.status == .unprocessableContent && voice.detail.contains("/v1/voices"))
            let provider = try await app.request(.patch, "/admin/personas/olga_desk", token: admin, json: #"{"provider": "nope"}"#)
            #expect(provider.status == .unprocessableContent && provider.detail.contains("provider"))
            let rename = try await app.request(.patch, "/admin/personas/olga_desk", token: admin, json: #"{"name": "olga2"}"#)
            #expect(rename.status == .unprocessableContent)
            #expect(try await app.request(.delete, "/admin/personas/prompt_writer", token: admin).status == .conflict)

            #expect(try await app.request(.delete, "/admin/personas/olga_desk", token: admin).status == .noContent)
            #expect(try await app.request(.get, "/admin/personas/olga_desk", token: admin).status == .notFound)
            let gone = try await app.request(.get, "/v1/models", token: user)
            #expect(!String(buffer: gone.body).contains("olga_desk"))
        }
    }
}
