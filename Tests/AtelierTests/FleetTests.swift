import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// The controller fans one download out to node processes (`atelier serve --role node`); one
/// registered node is down.
@Suite("Fleet fan-out to GPU nodes", .timeLimit(.minutes(5)))
struct FleetTests {
    struct Node {
        let server: ServerProcess
        let key: String
        let env: [String: String]
        let dir: String
        let port: Int
    }

    static func startNode(_ fakes: HubPullTests.Fakes) async throws -> Node {
        var (env, dir) = try ProcessTests.installation()
        env.merge(fakes.settings) { $1 }
        env["ATELIER_ROLE"] = "node"
        let user = try await AtelierBinary.run(
            ["user", "create", "nodeadmin", "--role", "admin"],
            environment: env,
            stdin: "node-password-1\n",
            directory: dir
        )
        try #require(user.status == 0, "\(user.stderr)")
        let key = try await AtelierBinary.run(["key", "create", "--user", "nodeadmin", "--name", "controller"], environment: env, directory: dir)
        try #require(key.status == 0, "\(key.stderr)")
        let server = try ServerProcess(environment: env, directory: dir)
        return Node(
            server: server,
            key: key.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
            env: env,
            dir: dir,
            port: try await server.port()
        )
    }

    static func nodeGet(_ node: Node, _ path: String) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(node.port)\(path)")
        request.headers.add(name: "Authorization", value: "Bearer \(node.key)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:])
    }

    @Test("one request starts the download on every live node; the dead node is a per-node error")
    func fanOut() async throws {
        try await HubPullTests.withFakes { fakes in
            let nodes = [try await Self.startNode(fakes), try await Self.startNode(fakes)]
            let outcome = await Result {
                try await TestApp.run(fakes.settings) { app in
                    let admin = try await app.login()
                    for (index, node) in nodes.enumerated() {
                        let registered = try await app.request(
                            .post,
                            "/api/v1/fleet/nodes",
                            token: admin,
                            json: """
                                {"name": "gpu-\(index + 1)", "url": "http://127.0.0.1:\(node.port)", "token": "\(node.key)"}
                                """
                        )
                        #expect(registered.status == .created)
                        #expect(registered.json["status"] as? String == "online")
                        #expect(!String(buffer: registered.body).contains(node.key))
                    }
                    _ = try await app.request(
                        .post,
                        "/api/v1/fleet/nodes",
                        token: admin,
                        json: #"{"name": "gpu-dead", "url": "http://127.0.0.1:1", "token": "atk_x"}"#
                    )
                    let duplicate = try await app.request(
                        .post,
                        "/api/v1/fleet/nodes",
                        token: admin,
                        json: #"{"name": "gpu-dead", "url": "http://127.0.0.1:2", "token": "atk_y"}"#
                    )
                    #expect(duplicate.status == .conflict)

                    let listed = try await app.request(.get, "/api/v1/fleet/nodes", token: admin)
                    let statuses = (listed.json["items"] as? [[String: Any]])?.compactMap { $0["status"] as? String }
                    #expect(statuses == ["online", "online", "offline"])

                    let started = ContinuousClock.now
                    let fanned = try await app.request(.post, "/api/v1/fleet/downloads", token: admin, json: #"{"ref": "civitai:135867"}"#)
                    // The dead node fails fast instead of holding up the answer.
                    #expect(ContinuousClock.now - started < .seconds(5))
                    #expect(fanned.status == .ok)
                    let results = try #require(fanned.json["results"] as? [[String: Any]])
                    #expect(results.count == 3)
                    let dead = try #require(results.first { $0["node"] as? String == "gpu-dead" })
                    #expect(dead["ok"] as? Bool == false)
                    #expect((dead["error"] as? String)?.contains("unreachable") == true)
                    for (index, node) in nodes.enumerated() {
                        let result = try #require(results.first { $0["node"] as? String == "gpu-\(index + 1)" })
                        #expect(result["ok"] as? Bool == true)
                        let id = try #require((result["download"] as? [String: Any])?["id"] as? String)
                        var status = ""
                        var body: [String: Any] = [:]
                        for _ in 0..<300 where !["succeeded", "failed"].contains(status) {
                            (_, body) = try await Self.nodeGet(node, "/api/v1/downloads/\(id)")
                            status = body["status"] as? String ?? ""
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        #expect(status == "succeeded", "\(body)")
                        let path = try #require((body["files"] as? [[String: Any]])?.first?["path"] as? String)
                        #expect(path.hasPrefix(node.env["ATELIER_DATA_DIR"] ?? "-"))
                        #expect(FileManager.default.contents(atPath: path) == fakes.lora)
                        // A node does not serve the controller's admin routes.
                        #expect(try await Self.nodeGet(node, "/admin/users").0 == 404)
                    }
                    let unknown = try await app.request(
                        .post,
                        "/api/v1/fleet/downloads",
                        token: admin,
                        json: #"{"ref": "civitai:135867", "nodes": ["nope"]}"#
                    )
                    #expect(unknown.status == .unprocessableContent)
                    let (_, user) = try await app.makeUser("notadmin")
                    #expect(try await app.request(.get, "/api/v1/fleet/nodes", token: user).status == .forbidden)
                }
            }
            for node in nodes {
                _ = try? await node.server.terminate()
                await TestDatabase.cleanUp(node.env)
                try? FileManager.default.removeItem(atPath: node.dir)
            }
            try outcome.get()
        }
    }
}
