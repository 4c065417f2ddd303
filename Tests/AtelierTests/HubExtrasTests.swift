import Core
import Foundation
import HTTPTypes
import Hub
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import Testing

@Suite("Hub: bandwidth cap, previews, webhooks, verify", .timeLimit(.minutes(5)))
struct HubExtrasTests {
    @Test("the bandwidth cap holds a download to its rate")
    func bandwidthCap() async throws {
        let cdn = try await FakeFileServer.start()
        let data = safetensorsContent(size: 1 << 20)
        cdn.add("capped.safetensors", data)
        try await DownloaderHarness.run { harness in
            let limiter = BandwidthLimiter(bytesPerSecond: 2 << 20)
            let start = ContinuousClock.now
            _ = try await harness.downloader.download(
                DownloaderHarness.request(cdn.url("capped.safetensors"), sha256: FakeFileServer.sha256(data), name: "capped.safetensors"),
                to: harness.destination("capped.safetensors"),
                workDir: harness.workDir,
                options: DownloadOptions(connections: 4, limiter: limiter)
            )
            // 1 MiB at 2 MiB/s with a 512 KiB burst cannot take less than a quarter second.
            #expect(ContinuousClock.now - start >= .milliseconds(240))
        }
        #expect(BandwidthLimiter.parse("50M") == 50 << 20)
        #expect(BandwidthLimiter.parse("500k") == 500 << 10)
        #expect(BandwidthLimiter.parse("fast") == nil)
        await cdn.stop()
    }

    @Test("a pull saves the preview image and the metadata beside the model")
    func preview() async throws {
        try await HubPullTests.withFakes { fakes in
            fakes.civitai.state.withLockedValue { $0.versions[135867]?.previewURL = fakes.cdn.url("preview.png") }
            try await TestApp.run(fakes.settings) { app in
                let pulled = try await app.runtime.hub.pull(
                    .civitaiVersion(versionID: 135867, query: [:]),
                    layout: try app.runtime.hub.layout(nil)
                )
                let base = ((try #require(pulled.first?.path)) as NSString).deletingPathExtension
                #expect(FileManager.default.fileExists(atPath: base + ".preview.png"))
                #expect(FileManager.default.fileExists(atPath: base + ".json"))
            }
        }
    }

    @Test("a finished download is POSTed to the webhook URL, signed, with a delivery id")
    func webhook() async throws {
        let receiver = try await FakeWebhookReceiver.start()
        try await HubPullTests.withFakes { fakes in
            var settings = fakes.settings
            settings["ATELIER_WEBHOOK_URL"] = receiver.url
            settings["ATELIER_WEBHOOK_SECRET"] = "whsec-test-secret"
            try await TestApp.run(settings) { app in
                let token = try await app.login()
                let created = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:135867"}"#)
                let id = try #require(created.json["id"] as? String)
                _ = try await DownloadRoutesTests.waitForFinal(app, id, token: token)
                let delivery = try #require(try await receiver.first())
                let event = try #require(try JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])
                #expect(event["type"] as? String == "download.succeeded")
                #expect((event["data"] as? [String: Any])?["id"] as? String == id)
                #expect(delivery.headers[HTTPField.Name("X-Atelier-Delivery")!]?.isEmpty == false)
                let signature = try #require(delivery.headers[HTTPField.Name(WebhookSignature.header)!])
                #expect(
                    WebhookSignature.verify(
                        body: delivery.body,
                        header: signature,
                        secret: Secret("whsec-test-secret"),
                        now: Int(Date().timeIntervalSince1970)
                    )
                )
                #expect(
                    !WebhookSignature.verify(
                        body: delivery.body + Data("x".utf8),
                        header: signature,
                        secret: Secret("whsec-test-secret"),
                        now: Int(Date().timeIntervalSince1970)
                    )
                )
            }
        }
        await receiver.stop()
    }

    @Test("atelier pull --verify: OK for an intact file, exit 5 for a damaged one")
    func verify() async throws {
        let cdn = try await FakeFileServer.start()
        let data = safetensorsContent(size: 300_000)
        cdn.add("v.safetensors", data)
        let (baseEnv, dir) = try ProcessTests.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = baseEnv
        env["ATELIER_ALLOW_PRIVATE_HOSTS"] = "true"
        let out = (dir as NSString).appendingPathComponent("out")
        let pulled = try await AtelierBinary.run(["pull", cdn.url("v.safetensors"), "--to", out], environment: env, directory: dir)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let path = (out as NSString).appendingPathComponent("v.safetensors")
        let ok = try await AtelierBinary.run(["pull", "--verify", path], environment: env, directory: dir)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("OK"))
        var damaged = data
        damaged[1000] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: path))
        let bad = try await AtelierBinary.run(["pull", "--verify", path], environment: env, directory: dir)
        #expect(bad.status == 5)
        #expect(bad.stderr.contains("MISMATCH"))
        let unknownRef = try await AtelierBinary.run(["pull", "nonsense"], environment: env, directory: dir)
        #expect(unknownRef.status == 2)
        await TestDatabase.cleanUp(env)
        await cdn.stop()
    }
}
