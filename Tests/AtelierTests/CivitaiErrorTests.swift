import Core
import Foundation
import HTTPTypes
import Testing

/// How a Civitai model behind a login and a failing Civitai read on seed 000's `/civitai/download`
/// (whose error list knows 401, 403, 503 and not 502) and on Atelier's own downloads API.
@Suite("Civitai login walls and outages", .timeLimit(.minutes(5)))
struct CivitaiErrorTests {
    static func addMembersOnly(_ fakes: HubPullTests.Fakes, wall: FakeCivitai.LoginWall) {
        fakes.cdn.add("private.safetensors", fakes.checkpoint)
        fakes.civitai.add(
            .init(
                id: 5150,
                modelID: 515,
                modelName: "Members Only",
                type: "Checkpoint",
                name: "v1",
                baseModel: "SDXL 1.0",
                trainedWords: [],
                fileName: "private.safetensors",
                sha256: FakeFileServer.sha256(fakes.checkpoint),
                size: fakes.checkpoint.count,
                requiresAuth: true,
                loginWall: wall
            )
        )
    }

    static func seedKey(_ app: TestApp) async throws -> HTTPFields {
        let admin = try await app.login()
        let key = try #require(try await app.request(.post, "/api/v1/keys", token: admin, json: #"{"name":"bot"}"#).json["key"] as? String)
        return [HTTPField.Name("X-Token")!: key]
    }

    @Test(
        "seed 000: a model behind Civitai's login (401, sign-in page, redirect to /login) is a 403 saying it needs an API key and how to give one",
        arguments: [FakeCivitai.LoginWall.unauthorizedJSON, .loginPage, .redirectToLogin]
    )
    func loginWallIs403(wall: FakeCivitai.LoginWall) async throws {
        try await HubPullTests.withFakes { fakes in
            Self.addMembersOnly(fakes, wall: wall)
            try await TestApp.run(fakes.settings) { app in
                let xToken = try await Self.seedKey(app)
                let refused = try await app.request(
                    .post,
                    "/civitai/download",
                    json: #"{"url": "https://civitai.com/models/515"}"#,
                    headers: xToken
                )
                #expect(refused.status == .forbidden)
                #expect(refused.json["success"] as? Bool == false)
                let message = refused.json["message"] as? String ?? ""
                #expect(message.contains("this model needs a Civitai API key"))
                #expect(message.contains("api_key") && message.contains("CIVITAI_API_TOKEN"))
                #expect(refused.detail == message)
                // Nothing was saved from the sign-in page.
                let folder = try app.runtime.hub.layout(nil).folder(for: .checkpoint)
                #expect(!FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("private.safetensors")))
                // A key Civitai refuses is the seed's 401 "invalid API key"; the right one downloads.
                let wrong = try await app.request(
                    .post,
                    "/civitai/download",
                    json: #"{"url": "civitai:5150", "api_key": "not-the-key"}"#,
                    headers: xToken
                )
                #expect(wrong.status == .unauthorized)
                #expect((wrong.json["message"] as? String)?.contains("rejected the API key") == true)
                let allowed = try await app.request(
                    .post,
                    "/civitai/download",
                    json: #"{"url": "civitai:5150", "api_key": "\#(fakes.civitai.token)"}"#,
                    headers: xToken
                )
                #expect(allowed.status == .ok)
            }
        }
    }

    @Test(
        "seed 000: Civitai answering 5xx (its API or its download endpoint) is a 503 naming Civitai, never a 502",
        arguments: [(500, "/"), (502, "/"), (503, "/api/download/")]
    )
    func outageIs503(status: Int, prefix: String) async throws {
        try await HubPullTests.withFakes { fakes in
            fakes.civitai.state.withLockedValue {
                $0.serverError = status
                $0.serverErrorPrefix = prefix
            }
            try await TestApp.run(fakes.settings) { app in
                let xToken = try await Self.seedKey(app)
                let failed = try await app.request(.post, "/civitai/download", json: #"{"url": "civitai:135867"}"#, headers: xToken)
                #expect(failed.status == .serviceUnavailable)
                #expect(failed.json["success"] as? Bool == false)
                #expect((failed.json["message"] as? String)?.contains("Civitai failed (HTTP \(status))") == true)
            }
        }
    }

    @Test("the downloads API reports the same cases plainly: a key is needed (set CIVITAI_API_TOKEN), Civitai failed with its status")
    func nativeAPI() async throws {
        try await HubPullTests.withFakes { fakes in
            Self.addMembersOnly(fakes, wall: .loginPage)
            try await TestApp.run(fakes.settings) { app in
                let token = try await app.login()
                let locked = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:5150"}"#)
                let lockedFinal = try await DownloadRoutesTests.waitForFinal(app, try #require(locked.json["id"] as? String), token: token)
                #expect(lockedFinal["status"] as? String == "failed")
                let lockedError = lockedFinal["error"] as? String ?? ""
                #expect(lockedError.contains("this model needs a Civitai API key") && lockedError.contains("CIVITAI_API_TOKEN"))
                // This API has no api_key field, so it does not tell the user to send one.
                #expect(!lockedError.contains("api_key"))

                fakes.civitai.state.withLockedValue { $0.serverError = 503 }
                let down = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:135867"}"#)
                let downFinal = try await DownloadRoutesTests.waitForFinal(app, try #require(down.json["id"] as? String), token: token)
                #expect(downFinal["status"] as? String == "failed")
                #expect((downFinal["error"] as? String)?.contains("Civitai failed (HTTP 503)") == true)
            }
        }
    }
}
