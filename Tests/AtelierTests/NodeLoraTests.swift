import AtelierApp
import Core
import Crypto
import Foundation
import HTTPTypes
import Hub
import Hummingbird
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A LoRA that exists only on the controller (trained for someone) reaches a job on a GPU node:
/// the controller serves the file by a signed link with ranges, and the node pulls it from there
/// and checks its SHA-256.
@Suite("Files only the controller has, for GPU nodes", .timeLimit(.minutes(5)))
struct NodeLoraTests {
    /// A LoRA file in the controller's LoRA folder with a catalog entry as a finished training
    /// leaves it (a `replicate-training:` source, which no node can pull from).
    static func trainedLora(_ app: TestApp, key: String, content: Data, sha256: Bool) async throws -> CatalogEntry {
        let folder = try app.runtime.hub.layout(nil).folder(for: .lora)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent("\(key).safetensors")
        try content.write(to: URL(fileURLWithPath: path))
        var entry = CatalogEntry.local(
            key: key,
            name: "Studio LoRA",
            kind: .lora,
            path: path,
            defaultWeight: 0.9,
            sizeBytes: Int64(content.count),
            source: "replicate-training:r8train",
            now: Timestamp.millis(Date())
        )
        if sha256 { entry.sha256 = SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined() }
        try await app.runtime.hub.catalog.upsert(entry)
        return entry
    }

    /// The link without its fragment, as a client sends it.
    static func requestPath(_ link: String) -> String { String(link.split(separator: "#", maxSplits: 1)[0]) }

    @Test("a catalog file by its signed link: whole, by ranges; refused when the signature is wrong, expired or for another file")
    func signedFileRoute() async throws {
        try await TestApp.run { app in
            let content = safetensorsContent(size: 300_000, seed: 5)
            let entry = try await Self.trainedLora(app, key: "studio-lora-route", content: content, sha256: true)
            let links = app.runtime.catalogFileLinks
            let link = links.path(for: entry, sha256: entry.sha256)
            #expect(link.hasSuffix("#sha256=\(entry.sha256 ?? "-")"))
            let path = Self.requestPath(link)

            let whole = try await app.request(.get, path)
            #expect(whole.status == .ok)
            #expect(Data(buffer: whole.body) == content)
            #expect(whole.headers[.acceptRanges] == "bytes")
            #expect(whole.headers[.eTag] == "\"\(entry.sha256 ?? "-")\"")

            let middle = try await app.request(.get, path, headers: [.range: "bytes=1000-1999"])
            #expect(middle.status == .partialContent)
            #expect(middle.headers[.contentRange] == "bytes 1000-1999/\(content.count)")
            #expect(Data(buffer: middle.body) == content[1000..<2000])
            let tail = try await app.request(.get, path, headers: [.range: "bytes=-10"])
            #expect(Data(buffer: tail.body) == content.suffix(10))
            let open = try await app.request(.get, path, headers: [.range: "bytes=299990-"])
            #expect(Data(buffer: open.body) == content.suffix(10))
            let past = try await app.request(.get, path, headers: [.range: "bytes=300000-"])
            #expect(past.status == .rangeNotSatisfiable)
            #expect(past.headers[.contentRange] == "bytes */\(content.count)")

            // A changed signature, no signature, another entry's name, an expired link.
            let forged = try await app.request(.get, String(path.dropLast(2)) + "xx")
            #expect(forged.status == .forbidden)
            #expect(forged.detail.contains("signature"))
            #expect(try await app.request(.get, String(path.split(separator: "?")[0])).status == .forbidden)
            let renamed = path.replacingOccurrences(of: "studio-lora-route.safetensors", with: "other.safetensors")
            #expect(try await app.request(.get, renamed).status == .forbidden)
            let old = Self.requestPath(links.path(for: entry, sha256: nil, now: Date(timeIntervalSinceNow: -2 * 86_400)))
            let expired = try await app.request(.get, old)
            #expect(expired.status == .forbidden)
            #expect(expired.detail.contains("expired"))

            // An entry whose path is outside the models folders is not served, signed or not.
            let outside = (TestDatabase.temporaryDirectory() as NSString).appendingPathComponent("secret.safetensors")
            try content.write(to: URL(fileURLWithPath: outside))
            defer { try? FileManager.default.removeItem(atPath: outside) }
            var stray = entry
            stray.id = ID.make("mdl")
            stray.key = "stray"
            stray.path = outside
            try await app.runtime.hub.catalog.upsert(stray)
            let refused = try await app.request(.get, Self.requestPath(links.path(for: stray, sha256: nil)))
            #expect(refused.status == .notFound)
            #expect(!String(buffer: refused.body).contains(outside))
        }
    }

    /// A port nothing listens on now, for a server whose public URL must be known before it starts.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test(
        "a job on a node's worker that names a LoRA only the controller has: the node pulls it from the controller, checked, and the job runs with it"
    )
    func trainedLoraReachesNode() async throws {
        try await HubPullTests.withFakes { fakes in
            let node = try await FleetTests.startNode(fakes)
            let a1111 = try await FakeA1111.start()
            let port = try Self.freePort()
            var settings = BackendTests.fast.merging(fakes.settings) { $1 }
            settings["ATELIER_PORT"] = String(port)
            settings["ATELIER_PUBLIC_URL"] = "http://127.0.0.1:\(port)"
            let outcome = await Result {
                try await TestApp.run(settings) { app in
                    // The nodes reach the controller at ATELIER_PUBLIC_URL: this app's router,
                    // served on that port for the test (the live test mode picks its own port).
                    let server = Application(
                        router: try ApplicationBuilder.buildRouter(app.runtime),
                        configuration: .init(address: .hostname("127.0.0.1", port: port))
                    )
                    let serving = Task { try await server.runService(gracefulShutdownSignals: []) }
                    defer { serving.cancel() }
                    let admin = try await app.login()
                    let registered = try await app.request(
                        .post,
                        "/api/v1/fleet/nodes",
                        token: admin,
                        json: #"{"name": "gpu-box", "url": "http://127.0.0.1:\#(node.port)", "token": "\#(node.key)"}"#
                    )
                    try #require(registered.status == .created, "\(registered.detail)")
                    let nodeID = try #require(registered.json["id"] as? String)
                    _ = try await BackendTests.onlyWorker(
                        app,
                        admin,
                        #"{"name": "gpu-on-node", "backend": "a1111", "endpoint": "\#(a1111.url)", "node_id": "\#(nodeID)"}"#
                    )
                    let content = safetensorsContent(size: 700_000, seed: 11)
                    let entry = try await Self.trainedLora(app, key: "studio-lora-node", content: content, sha256: false)

                    let id = try await BackendTests.submit(
                        app,
                        admin,
                        #"{"prompt": "me as an astronaut", "loras": [{"name": "studio-lora-node", "weight": 0.9}]}"#
                    )
                    let job = try await BackendTests.waitFor(app, admin, id)
                    #expect(job["status"] as? String == "success", "\(job["error"] ?? "")")
                    let body = try #require(a1111.bodies("/sdapi/v1/txt2img").first)
                    #expect(body["prompt"] as? String == "me as an astronaut <lora:studio-lora-node:0.9>")

                    // The node has the file, byte for byte, in its own LoRA folder.
                    let (_, list) = try await FleetTests.nodeGet(node, "/api/v1/downloads")
                    let download = try #require((list["items"] as? [[String: Any]])?.first)
                    #expect(download["status"] as? String == "succeeded")
                    let path = try #require((download["files"] as? [[String: Any]])?.first?["path"] as? String)
                    #expect(path.hasPrefix(node.env["ATELIER_DATA_DIR"] ?? "-"))
                    #expect(FileManager.default.contents(atPath: path) == content)
                    // The controller hashed the file for the link, and keeps the hash.
                    let stored = try #require(try await app.runtime.hub.catalog.find(key: "studio-lora-node"))
                    #expect(stored.sha256 == SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined())
                    #expect(stored.id == entry.id)
                }
            }
            await a1111.stop()
            _ = try? await node.server.terminate()
            await TestDatabase.cleanUp(node.env)
            try? FileManager.default.removeItem(atPath: node.dir)
            try outcome.get()
        }
    }

    @Test("without ATELIER_PUBLIC_URL a node's job that needs such a LoRA fails at once, saying what to set")
    func noPublicURL() async throws {
        let a1111 = try await FakeA1111.start()
        defer { Task { await a1111.stop() } }
        try await TestApp.run(BackendTests.fast) { app in
            let admin = try await app.login()
            let registered = try await app.request(
                .post,
                "/api/v1/fleet/nodes",
                token: admin,
                json: #"{"name": "gpu-far", "url": "http://127.0.0.1:1", "token": "atk_unused"}"#
            )
            let nodeID = try #require(registered.json["id"] as? String)
            _ = try await BackendTests.onlyWorker(
                app,
                admin,
                #"{"name": "gpu-on-far-node", "backend": "a1111", "endpoint": "\#(a1111.url)", "node_id": "\#(nodeID)"}"#
            )
            _ = try await Self.trainedLora(app, key: "studio-lora-far", content: safetensorsContent(size: 1000, seed: 3), sha256: true)
            let id = try await BackendTests.submit(app, admin, #"{"prompt": "x", "loras": [{"name": "studio-lora-far", "weight": 1}]}"#)
            let job = try await BackendTests.waitFor(app, admin, id)
            #expect(job["status"] as? String == "failed")
            #expect((job["error"] as? String)?.contains("ATELIER_PUBLIC_URL") == true, "\(job["error"] ?? "")")
            #expect(a1111.bodies("/sdapi/v1/txt2img").isEmpty)
        }
    }
}
