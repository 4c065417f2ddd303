import Core
import Foundation
import Hub
import Testing

/// Files the catalog points at: deletion stays inside the models folders, answers show paths
/// relative to them, and a download never passes off another file of the same name as its own.
@Suite("Catalog files: deletion, shown paths, name clashes", .timeLimit(.minutes(5)))
struct CatalogFilesTests {
    /// A file (and its `.json`) somewhere the hub must never delete.
    static func victim(in dir: String, name: String = "victim") throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = (dir as NSString).appendingPathComponent("\(name).safetensors")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("\(name).json")))
        return path
    }

    static func importLora(_ app: TestApp, _ token: String, key: String, path: String) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["AVAILABLE_LORAS": [key: ["name": key, "path": path]]])
        let imported = try await app.request(.post, "/api/v1/models/import", token: token, json: String(decoding: body, as: UTF8.self))
        #expect(imported.status == .ok)
    }

    @Test(
        "delete_file refuses a file outside the models folder (absolute, through .., through a symlink) and keeps the entry; inside, it deletes the file and its sidecar"
    )
    func deleteStaysInside() async throws {
        let outside = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try await TestApp.run { app in
            let admin = try await app.login()
            let models = app.runtime.hub.settings.modelsRoot
            let loras = (models as NSString).appendingPathComponent("loras")
            try FileManager.default.createDirectory(atPath: loras, withIntermediateDirectories: true)
            let absolute = try Self.victim(in: outside)
            // models/loras/../../../<outside>/victim.safetensors, spelled from inside the folder.
            let dotted = loras + "/../.." + String(repeating: "/..", count: models.split(separator: "/").count) + absolute
            try FileManager.default.createSymbolicLink(atPath: (loras as NSString).appendingPathComponent("link"), withDestinationPath: outside)
            let linked = (loras as NSString).appendingPathComponent("link/victim.safetensors")
            for (key, path) in [("abs", absolute), ("dots", dotted), ("link", linked)] {
                try await Self.importLora(app, admin, key: key, path: path)
                let refused = try await app.request(.delete, "/api/v1/models/\(key)?delete_file=true", token: admin)
                #expect(refused.status == .forbidden, "\(key)")
                #expect(refused.detail.contains("outside the models folder") && refused.detail.contains("not deleted"), "\(key)")
                #expect(!refused.detail.contains(outside), "the answer shows no server path")
                #expect(try await app.request(.get, "/api/v1/models/\(key)", token: admin).status == .ok, "the entry is kept")
                #expect(FileManager.default.contents(atPath: absolute) == Data("precious".utf8))
                #expect(FileManager.default.fileExists(atPath: (outside as NSString).appendingPathComponent("victim.json")))
                // Without delete_file the entry goes and the file stays.
                #expect(try await app.request(.delete, "/api/v1/models/\(key)", token: admin).status == .noContent)
                #expect(FileManager.default.fileExists(atPath: absolute))
            }
            let mine = try Self.victim(in: loras, name: "mine")
            try await Self.importLora(app, admin, key: "mine", path: mine)
            #expect(try await app.request(.delete, "/api/v1/models/mine?delete_file=true", token: admin).status == .noContent)
            #expect(!FileManager.default.fileExists(atPath: mine))
            #expect(!FileManager.default.fileExists(atPath: (loras as NSString).appendingPathComponent("mine.json")))
            #expect(FileManager.default.fileExists(atPath: absolute), "the symlinked folder's target is untouched")
        }
    }

    @Test("atelier models remove --delete-file refuses a file outside the models folder and removes nothing")
    func cliDeleteStaysInside() async throws {
        let (env, dir) = try ProcessTests.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let absolute = try Self.victim(in: (dir as NSString).appendingPathComponent("elsewhere"))
        let file = (dir as NSString).appendingPathComponent("models.json")
        try #"{"AVAILABLE_LORAS": {"far": {"name": "Far", "path": "\#(absolute)"}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await AtelierBinary.run(["models", "import", file], environment: env, directory: dir).status == 0)
        let refused = try await AtelierBinary.run(["models", "remove", "far", "--delete-file"], environment: env, directory: dir)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("outside the models folder"))
        #expect(FileManager.default.contents(atPath: absolute) == Data("precious".utf8))
        #expect(try await AtelierBinary.run(["models", "list"], environment: env, directory: dir).stdout.contains("far"))
        await TestDatabase.cleanUp(env)
    }

    @Test("catalog answers show paths relative to the models folder, never the server's absolute paths")
    func relativePaths() async throws {
        let outside = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try await HubPullTests.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let admin = try await app.login()
                _ = try await app.runtime.hub.pull(.civitaiVersion(versionID: 135867, query: [:]), layout: try app.runtime.hub.layout(nil))
                try await Self.importLora(app, admin, key: "far", path: try Self.victim(in: outside))
                _ = try await app.request(.put, "/api/v1/models/far", token: admin, json: #"{"vae_path": "\#(outside)/vae.safetensors"}"#)
                let list = try await app.request(.get, "/api/v1/models", token: admin)
                let items = try #require(list.json["items"] as? [[String: Any]])
                let paths = Dictionary(uniqueKeysWithValues: items.map { ($0["key"] as? String ?? "", $0["path"] as? String ?? "") })
                #expect(paths["detail-tweaker-lora"] == "loras/detail_tweaker.safetensors")
                #expect(paths["far"] == "victim.safetensors")
                let one = try await app.request(.get, "/api/v1/models/far", token: admin)
                #expect(one.json["vae_path"] as? String == "vae.safetensors")
                let dataDir = (app.runtime.hub.settings.modelsRoot as NSString).deletingLastPathComponent
                for body in [String(buffer: list.body), String(buffer: one.body)] {
                    #expect(!body.contains(dataDir) && !body.contains(outside))
                }
            }
        }
    }

    @Test(
        "a link download whose name is taken by other bytes is fetched and kept apart; the same bytes are recognised; a catalog file changed on disk is fetched again"
    )
    func nameClashWithoutHash() async throws {
        try await HubPullTests.withFakes { fakes in
            let fresh = safetensorsContent(size: 300_000, seed: 21)
            fakes.cdn.add("plain.safetensors", fresh)
            try await TestApp.run(fakes.settings) { app in
                let token = try await app.login()
                let folder = try app.runtime.hub.layout(nil).folder(for: .checkpoint)
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let taken = (folder as NSString).appendingPathComponent("plain.safetensors")
                try Data("someone else's file".utf8).write(to: URL(fileURLWithPath: taken))
                let ref = #"{"ref": "\#(fakes.cdn.url("plain.safetensors", host: "127.0.0.1"))", "kind": "checkpoint"}"#

                let first = try await app.request(.post, "/api/v1/downloads", token: token, json: ref)
                let done = try await DownloadRoutesTests.waitForFinal(app, try #require(first.json["id"] as? String), token: token)
                #expect(done["status"] as? String == "succeeded")
                let file = try #require((done["files"] as? [[String: Any]])?.first)
                let path = try #require(file["path"] as? String)
                #expect(path != taken && path.hasSuffix("plain-\(FakeFileServer.sha256(fresh).prefix(8)).safetensors"))
                #expect(file["sha256"] as? String == FakeFileServer.sha256(fresh))
                #expect(file["already_present"] as? Bool == false)
                #expect(FileManager.default.contents(atPath: path) == fresh)
                #expect(FileManager.default.contents(atPath: taken) == Data("someone else's file".utf8))

                // The same bytes already under the name: recognised, nothing duplicated.
                try fresh.write(to: URL(fileURLWithPath: taken))
                let second = try await app.request(.post, "/api/v1/downloads", token: token, json: ref)
                let same = try await DownloadRoutesTests.waitForFinal(app, try #require(second.json["id"] as? String), token: token)
                let sameFile = try #require((same["files"] as? [[String: Any]])?.first)
                #expect(sameFile["path"] as? String == taken)
                #expect(sameFile["already_present"] as? Bool == true)

                // A Civitai file whose catalog copy was overwritten since: fetched again, not reported as present.
                let pulled = try await app.runtime.hub.pull(.civitaiVersion(versionID: 135867, query: [:]), layout: try app.runtime.hub.layout(nil))
                let loraPath = try #require(pulled.first?.path)
                try Data("overwritten".utf8).write(to: URL(fileURLWithPath: loraPath))
                let again = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:135867"}"#)
                let refetched = try await DownloadRoutesTests.waitForFinal(app, try #require(again.json["id"] as? String), token: token)
                #expect(refetched["status"] as? String == "succeeded")
                let refetchedFile = try #require((refetched["files"] as? [[String: Any]])?.first)
                #expect(refetchedFile["already_present"] as? Bool == false)
                let refetchedPath = try #require(refetchedFile["path"] as? String)
                #expect(FileManager.default.contents(atPath: refetchedPath) == fakes.lora)
            }
        }
    }
}
