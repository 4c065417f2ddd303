import Assistant
import Foundation
import HTTPTypes
import Testing

/// Seed 004's assistant bot on the Telegram platform: its persona answers each chat in a
/// remembered conversation; a voice message is heard, answered, and the answer sent back as a
/// voice message (OGG/Opus) with its text.
@Suite("Assistant bot", .timeLimit(.minutes(3)))
struct AssistantBotTests {
    @Test("text in, the persona's answer out per chat; /reset forgets", .enabled(if: OpusCodec().isAvailable))
    func textAndVoice() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await StudioHarness.withTelegram { app, fake, admin in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let added = try await StudioHarness.addBot(
                app,
                admin,
                token: fake.token,
                name: "secretary",
                kind: "assistant",
                extra: #""persona": "marina""#
            )
            #expect(added.status == .created, "\(added.detail)")
            let id = try #require(added.json["id"] as? String)
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
            let harness = StudioHarness(app: app, fake: fake, botID: id, admin: admin)
            try await harness.waitFor { !fake.calls("setMyCommands").isEmpty }

            harness.say(501, "Здравствуйте, <b>есть</b> запись?")
            let answer = try await harness.waitForText(501, containing: "Echo:")
            #expect(answer == "Echo: Здравствуйте, &lt;b&gt;есть&lt;/b&gt; запись?", "escaped for HTML")
            let system = (upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.first?["content"] as? String
            #expect(system?.contains("Марина") == true, "the bot's persona")
            harness.say(501, "А завтра?")
            try await harness.waitForText(501, containing: "А завтра")
            #expect((upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.count == 4, "the chat is remembered")
            harness.say(502, "Hi", language: "en")
            try await harness.waitForText(502, containing: "Echo: Hi")
            #expect((upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.count == 2, "another chat starts afresh")
            harness.say(501, "/reset")
            try await harness.waitForText(501, containing: "Контекст сброшен")

            // A voice message: espeak-ng says it, opusenc makes Telegram's OGG/Opus of it.
            let spoken = try await EspeakSynthesizer().synthesize("hello world", voice: try #require(VoiceCatalog.find("anna_en")), speed: nil)
            let ogg = try await OpusCodec().encode(spoken)
            fake.addFile(ogg, id: "voice-1", path: "voice/file_1.oga")
            harness.send(503, ["voice": ["file_id": "voice-1", "file_unique_id": "uv1", "duration": 2, "mime_type": "audio/ogg"]], language: "en")
            try await harness.waitFor("the voice answer") { !fake.calls("sendVoice").isEmpty }
            let voice = try #require(fake.calls("sendVoice").first)
            #expect(voice.files["voice"]?.starts(with: Array("OggS".utf8)) == true, "an OGG/Opus voice message")
            #expect((voice.params["caption"] as? String)?.contains("Echo:") == true, "with the answer's text")

            // Russian speech and the embedded English-only recognizer: the person is asked to
            // write, in their language, instead of hearing about the server's settings.
            fake.addFile(ogg, id: "voice-2", path: "voice/file_2.oga")
            harness.send(504, ["voice": ["file_id": "voice-2", "file_unique_id": "uv2", "duration": 2, "mime_type": "audio/ogg"]])
            let unheard = try await harness.waitForText(504, containing: "только на английском")
            #expect(!unheard.contains("ATELIER_"), "\(unheard)")
            #expect(fake.calls("sendVoice").count == 1)

            // The provider failing: an apology, not which upstream failed and why.
            upstream.behave(.status(500))
            harness.say(505, "Привет")
            let apology = try await harness.waitForText(505, containing: "Не получилось ответить")
            #expect(!apology.contains("vllm") && !apology.contains("500"), "\(apology)")
        }
    }
}
