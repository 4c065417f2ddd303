import Foundation
import SQLKit
import Testing

/// Seed 000 from Telegram: an admin sends a Civitai link, picks all PCs, and one status message
/// ends with each machine's result (file, path) or its error; people who are not admins are
/// refused. A real node process, a dead node and this server as targets.
@Suite("Downloads bot (seed 000)", .timeLimit(.minutes(5)))
struct DownloadsBotTests {
    @Test("a link → what it is → all PCs → per-node progress and results; a second press starts nothing; non-admins refused")
    func fanOutFromTelegram() async throws {
        try await HubPullTests.withFakes { fakes in
            let node = try await FleetTests.startNode(fakes)
            let fake = try await FakeTelegram.start()
            let outcome = await Result {
                var settings = fakes.settings
                settings["ATELIER_TELEGRAM_API_URL"] = fake.baseURL
                try await TestApp.run(settings) { app in
                    let admin = try await app.login()
                    for (name, url, token) in [("gpu-1", "http://127.0.0.1:\(node.port)", node.key), ("gpu-dead", "http://127.0.0.1:1", "atk_x")] {
                        let registered = try await app.request(
                            .post,
                            "/api/v1/fleet/nodes",
                            token: admin,
                            json: #"{"name": "\#(name)", "url": "\#(url)", "token": "\#(token)"}"#
                        )
                        try #require(registered.status == .created, "\(registered.detail)")
                    }
                    let created = try await app.request(
                        .post,
                        "/admin/telegram/bots",
                        token: admin,
                        json: #"{"name": "downloads", "token": "\#(fake.token)", "kind": "downloads", "admin_ids": [900]}"#
                    )
                    let id = try #require(created.json["id"] as? String)
                    #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
                    let studio = StudioHarness(app: app, fake: fake, botID: id, admin: admin)

                    studio.say(901, "civitai:135867", language: "en")
                    try await studio.waitForText(901, containing: "for its admins only")

                    studio.say(900, "civitai:135867", language: "en")
                    let summary = try await studio.waitForText(900, containing: "Detail Tweaker LoRA")
                    #expect(summary.contains("v1.0"))
                    #expect(summary.contains("lora"))
                    let offer = try #require(fake.calls("sendMessage").last { ($0.params["text"] as? String)?.contains("Detail Tweaker") == true })
                    let keyboard = try #require((offer.params["reply_markup"] as? [String: Any])?["inline_keyboard"] as? [[[String: Any]]])
                    #expect(keyboard.map { $0.first?["text"] as? String ?? "" } == ["All PCs", "gpu-1", "gpu-dead", "this server"])
                    let all = try #require(keyboard.first?.first?["callback_data"] as? String)

                    studio.press(900, all, language: "en")
                    studio.press(900, all, language: "en")
                    try await studio.waitFor("every target's result", timeout: .seconds(60)) {
                        guard let last = studio.edits(to: 900).last else { return false }
                        return last.contains("✅ gpu-1") && last.contains("✅ this server") && last.contains("gpu-dead")
                    }
                    let final = try #require(studio.edits(to: 900).last)
                    #expect(final.contains("detail_tweaker.safetensors → <code>"), "\(final)")
                    #expect(final.contains("❌ gpu-dead"), "\(final)")
                    #expect(final.contains(node.env["ATELIER_DATA_DIR"] ?? "-"), "the node's own path: \(final)")
                    #expect(studio.texts(to: 900).filter { $0.contains("Detail Tweaker LoRA") }.count == 2, "one offer, one status message")
                    #expect(fake.calls("answerCallbackQuery").contains { ($0.params["text"] as? String)?.contains("started already") == true })
                    try await studio.waitFor("the request done") {
                        try await app.runtime.database.sql.raw("SELECT state FROM telegram_downloads").first()?
                            .decode(column: "state", as: String.self) == "done"
                    }

                    // One machine, picked by its button after the fleet changed: the button names
                    // the machine, not its place in a list that is now shorter.
                    studio.say(900, "civitai:135867", language: "en")
                    try await studio.waitFor("a second offer") {
                        fake.calls("sendMessage").filter { ($0.params["text"] as? String)?.contains("Detail Tweaker") == true }.count == 3
                    }
                    let again = try #require(fake.calls("sendMessage").last { ($0.params["text"] as? String)?.contains("Detail Tweaker") == true })
                    let buttons = try #require((again.params["reply_markup"] as? [String: Any])?["inline_keyboard"] as? [[[String: Any]]])
                    let here = try #require(buttons.first { $0.first?["text"] as? String == "this server" }?.first?["callback_data"] as? String)
                    let nodes = try await app.request(.get, "/api/v1/fleet/nodes", token: admin)
                    let dead = try #require(
                        (nodes.json["items"] as? [[String: Any]])?.first { $0["name"] as? String == "gpu-dead" }?["id"] as? String
                    )
                    #expect(try await app.request(.delete, "/api/v1/fleet/nodes/\(dead)", token: admin).status == .noContent)
                    studio.press(900, here, language: "en")
                    try await studio.waitFor("the second request started") {
                        studio.texts(to: 900).filter { $0.contains("Detail Tweaker LoRA") }.count == 4
                    }
                    let status = try #require(studio.texts(to: 900).last { $0.contains("Detail Tweaker LoRA") })
                    #expect(status.contains("this server") && !status.contains("gpu-1"), "only the machine pressed: \(status)")
                    // The status message goes out just before the request's tickets are stored.
                    @Sendable func latestTickets() async throws -> String? {
                        try await app.runtime.database.sql.raw("SELECT tickets FROM telegram_downloads ORDER BY created_at DESC").first()?
                            .decode(column: "tickets", as: String?.self)
                    }
                    try await studio.waitFor("the second request's tickets stored") { try await latestTickets() != nil }
                    let tickets = try #require(try await latestTickets())
                    #expect(tickets.contains("\"local\"") && !tickets.contains("gpu-1"), "\(tickets)")

                    studio.say(900, "civitai:999999", language: "en")
                    let refusal = try await studio.waitForText(900, containing: "That did not work")
                    #expect(refusal.contains("999999"), "\(refusal)")
                }
            }
            await fake.stop()
            _ = try? await node.server.terminate()
            await TestDatabase.cleanUp(node.env)
            try? FileManager.default.removeItem(atPath: node.dir)
            try outcome.get()
        }
    }
}
