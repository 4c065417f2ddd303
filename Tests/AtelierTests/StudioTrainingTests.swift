import Core
import Foundation
import SQLKit
import Testing

/// /train end to end against fake Telegram and Replicate servers: ten photos (an album) are
/// fetched from Telegram and zipped, Replicate trains, the LoRA comes out of the weights tar into
/// the LoRA folder and the catalog, the person picks it in /models and gets a photo made with it.
/// A failed training gives the tokens back.
@Suite("Studio bot: LoRA training", .timeLimit(.minutes(3)))
struct StudioTrainingTests {
    /// Training through the fake Replicate: 5 tokens a training, 20 to start with.
    static func settings(_ replicate: FakeReplicateTrainings) -> [String: String] {
        [
            "REPLICATE_API_TOKEN": replicate.token, "ATELIER_REPLICATE_URL": replicate.apiURL,
            "ATELIER_STUDIO_TRAINER": "ostris/flux-dev-lora-trainer:e440909d3512", "ATELIER_STUDIO_TRAINING_DESTINATION": replicate.destination,
            "ATELIER_STUDIO_TRAINING_COST": "5", "ATELIER_STUDIO_WELCOME_TOKENS": "20",
        ]
    }

    @Test("10 photos → zip → Replicate → the LoRA installed and chosen → a photo with it; a failed training refunds")
    func train() async throws {
        let lora = safetensorsContent(size: 40_000, seed: 9)
        let replicate = try await FakeReplicateTrainings.start(lora: lora)
        let result = await Result {
            try await StudioHarness.run(Self.settings(replicate)) { studio in
                let person: Int64 = 77
                studio.say(person, "/start", language: "en")
                try await studio.waitForText(person, containing: "Your balance: 20 tokens")
                studio.say(person, "/train", language: "en")
                try await studio.waitForText(person, containing: "Send 10–20 photos")
                studio.say(person, "/train_start", language: "en")
                try await studio.waitForText(person, containing: "At least 10 photos are needed; you sent 0")
                for n in 1...10 {
                    let id = "AgACAgIAAxkBAAIphoto\(n)"
                    studio.fake.addFile(Data("jpeg-bytes-of-photo-\(n)".utf8), id: id, path: "photos/file_\(n).jpg")
                    studio.send(
                        person,
                        ["media_group_id": "13987654", "photo": [["file_id": id, "file_unique_id": "uniq\(n)", "width": 1280, "height": 960]]],
                        language: "en"
                    )
                }
                try await studio.waitForText(person, containing: "Photo received: 10 of 10–20")
                studio.say(person, "/train_start", language: "en")
                try await studio.waitForText(person, containing: "Training \"Person 77 1\" has started (5 tokens)")
                #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 77") == 15, "reserved")

                let upload = Array(try #require(replicate.state.withLockedValue { $0.uploads.values.first }))
                #expect(upload.prefix(4) == [0x50, 0x4B, 0x03, 0x04], "a zip")
                // The end record (the last 22 bytes) counts the entries at its byte 10.
                let entries = Int(upload[upload.count - 12]) | Int(upload[upload.count - 11]) << 8
                #expect(entries == 10, "one zip entry per photo")
                #expect(Data(upload).range(of: Data("jpeg-bytes-of-photo-7".utf8)) != nil)
                let input = try #require(replicate.state.withLockedValue { $0.trainings.values.first?.body })
                #expect(input["trigger_word"] == "tok77x")
                #expect(input["input_images"]?.hasPrefix(replicate.apiURL + "/files/") == true)

                try await studio.waitForText(person, containing: "Model \"Person 77 1\" is ready")
                #expect(try await studio.number("SELECT tokens_spent AS n FROM \"User\" WHERE user_id = 77") == 5, "captured")
                let key = try #require(
                    try await studio.app.runtime.database.sql.raw("SELECT version FROM \"Model\" WHERE user_id = 77").first()?
                        .decode(column: "version", as: String.self)
                )
                let entry = try #require(try await studio.app.runtime.hub.catalog.find(key: key))
                #expect(FileManager.default.contents(atPath: entry.path) == lora, "the LoRA out of the tar")
                try await studio.waitForText(900, containing: "Training done")

                studio.say(person, "/models", language: "en")
                try await studio.waitForText(person, containing: "Person 77 1 (tok77x) — ready")
                let model = try #require(try await studio.number("SELECT model_id AS n FROM \"Model\" WHERE user_id = 77"))
                studio.press(person, "st:own:\(model)", language: "en")
                try await studio.waitFor("the style chosen") {
                    studio.fake.calls("answerCallbackQuery").contains { ($0.params["text"] as? String)?.contains("Style set: Person 77 1") == true }
                }
                studio.say(person, "me as an astronaut", language: "en")
                try await studio.waitFor("the photo") { studio.fake.calls("sendPhoto").count == 1 }
                #expect(key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" })
                #expect(
                    try await studio.number("SELECT COUNT(*) AS n FROM jobs WHERE params LIKE '%\(key)%'") == 1,
                    "the job used the trained LoRA"
                )

                // A second training that fails gives its tokens back.
                replicate.state.withLockedValue { $0.failNext = true }
                studio.say(person, "/train", language: "en")
                try await studio.waitForText(person, containing: "Send 10–20 photos")
                var archive = ZipArchive()
                for n in 1...10 { archive.add(name: "photo_\(n).jpg", contents: Data("jpeg \(n)".utf8)) }
                studio.fake.addFile(archive.finish(), id: "BQACAgIAAxkBAAIzip1", path: "documents/me.zip")
                studio.send(
                    person,
                    [
                        "document": [
                            "file_id": "BQACAgIAAxkBAAIzip1", "file_unique_id": "zip1", "file_name": "me.zip", "mime_type": "application/zip",
                        ]
                    ],
                    language: "en"
                )
                try await studio.waitForText(person, containing: "Archive received: 10 photos")
                studio.say(person, "/train_start", language: "en")
                try await studio.waitForText(person, containing: "failed. 5 tokens are back")
                try await studio.waitForText(900, containing: "CUDA out of memory")
                #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 77") == 14, "20 - 5 (training) - 1 (photo)")
            }
        }
        await replicate.stop()
        try result.get()
    }

    @Test(
        "POST /api/train (seed 002's API, as the web front-end calls it) starts a training from the photos sent to the bot; the person hears when it is ready"
    )
    func trainThroughAPI() async throws {
        let lora = safetensorsContent(size: 30_000, seed: 4)
        let replicate = try await FakeReplicateTrainings.start(lora: lora)
        let result = await Result {
            try await StudioHarness.run(Self.settings(replicate)) { studio in
                let person: Int64 = 78
                studio.say(person, "/start", language: "en")
                try await studio.waitForText(person, containing: "Your balance: 20 tokens")
                studio.say(person, "/train", language: "en")
                try await studio.waitForText(person, containing: "Send 10–20 photos")
                for n in 1...10 {
                    let id = "AgACAgIAAxkBAAIapi\(n)"
                    studio.fake.addFile(Data("jpeg-\(n)".utf8), id: id, path: "photos/api_\(n).jpg")
                    studio.send(person, ["photo": [["file_id": id, "file_unique_id": "api\(n)", "width": 800, "height": 600]]], language: "en")
                }
                try await studio.waitForText(person, containing: "Photo received: 10 of 10–20")
                let web = try await studio.app.makeUser("front", role: .web)
                let started = try await studio.app.request(.post, "/api/train", token: web.token, json: #"{"user_id": 78, "name": "Site model"}"#)
                #expect(started.status == .accepted, "\(started.detail)")
                #expect(started.json["status"] as? String == "training")
                let modelID = try #require(started.json["model_id"] as? Int)
                #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 78") == 15, "reserved")
                try await studio.waitForText(person, containing: "Model \"Site model\" is ready")
                let models = try await studio.app.request(.get, "/api/models?user_id=78", token: web.token)
                // Seed 002's shape: a JSON array; a person's trained model names its owner.
                let listed = try #require(try JSONSerialization.jsonObject(with: Data(buffer: models.body)) as? [[String: Any]])
                let own = try #require(listed.first { $0["model_id"] as? String == String(modelID) }, "\(listed)")
                #expect(own["user_id"] as? Int == 78)
                #expect(own["status"] as? String == "ready", "\(own)")
                // A second call with no new photos is refused, saying what is missing.
                let again = try await studio.app.request(.post, "/api/train", token: web.token, json: #"{"user_id": 78}"#)
                #expect(again.status == .conflict)
                #expect(again.detail.contains("photos"))
            }
        }
        await replicate.stop()
        try result.get()
    }
}
