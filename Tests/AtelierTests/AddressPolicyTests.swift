import AsyncHTTPClient
import Foundation
import Hub
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Core

/// Outgoing address checks: every URL Atelier is given is judged by its address's bytes
/// (IPv4 written inside IPv6 included), names must resolve to public addresses only, and the
/// connection goes to the address that was checked.
@Suite("Outgoing address checks", .timeLimit(.minutes(3)))
struct AddressPolicyTests {
    static let refused: [String] = [
        "0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.0.9", "169.254.169.254",
        "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.1",
        "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "::", "::1", "[::ffff:0.0.0.0]", "::ffff:127.0.0.1", "[::ffff:169.254.169.254]", "::ffff:10.0.0.1", "[::127.0.0.1]",
        "::10.0.0.1", "::ffff:0:127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::",
        "2002:c0a8:101::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1", "ff02::1", "ff0e::1",
        "2001:db8::1", "100::1", "2001::1", "2001:2::1", "3fff::1", "4000::1", "::2",
    ]
    static let allowed: [String] = [
        "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
        "192.169.0.1", "223.255.255.254", "::ffff:8.8.8.8", "::8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "2606:4700:4700::1111", "2a00:1450:4001:81c::200e",
    ]

    @Test("private, reserved and special-purpose addresses are refused in every spelling", arguments: refused)
    func classifiesPrivate(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressPolicy.specialPurposeRange(address) != nil, "\(text) was judged public")
    }

    @Test("public IPv4 and IPv6 addresses are allowed, also inside IPv6", arguments: allowed)
    func classifiesPublic(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(AddressPolicy.specialPurposeRange(address) == nil, "\(text): \(AddressPolicy.specialPurposeRange(address) ?? "")")
    }

    /// A resolver that answers from a table and counts its calls.
    final class Resolver: Sendable {
        let table: [String: [String]]
        let calls = Mutex(0)
        init(_ table: [String: [String]]) { self.table = table }
        func resolve(_ host: String) -> [IPAddress] {
            calls.withLock { $0 += 1 }
            return (table[host] ?? []).compactMap { IPAddress($0) }
        }
    }

    @Test("a name is refused when it does not resolve or when any of its addresses is private; allowPrivate looks nothing up")
    func namesResolveToPublicOnly() async throws {
        let resolver = Resolver(["public.test": ["93.184.216.34"], "mixed.test": ["93.184.216.34", "10.0.0.7"]])
        let policy = AddressPolicy(allowPrivate: false, resolve: { resolver.resolve($0) }, dial: { $0 })
        let approval = try await policy.approve(URL(string: "https://public.test/x")!, field: "ref")
        #expect(approval.address == IPAddress("93.184.216.34") && !approval.isLiteral)

        let mixed = await #expect(throws: AppError.self) { try await policy.approve(URL(string: "https://mixed.test/x")!, field: "ref") }
        #expect(mixed?.status == .forbidden)
        #expect(mixed?.detail.contains("10.0.0.7") == true && mixed?.detail.contains("ATELIER_ALLOW_PRIVATE_HOSTS=true") == true)
        let unknown = await #expect(throws: AppError.self) { try await policy.approve(URL(string: "http://localhost./x")!, field: "ref") }
        #expect(unknown?.status == .unprocessableContent)
        #expect(unknown?.detail == "ref: host not found: localhost. does not resolve to any address")
        let literal = await #expect(throws: AppError.self) {
            try await policy.approve(URL(string: "http://[::ffff:169.254.169.254]/latest/meta-data")!, field: "ref")
        }
        #expect(literal?.status == .forbidden)

        let open = AddressPolicy(allowPrivate: true, resolve: { resolver.resolve($0) }, dial: { $0 })
        let before = resolver.calls.withLock { $0 }
        #expect(try await open.approve(URL(string: "http://mixed.test/")!, field: "ref").address == nil)
        #expect(resolver.calls.withLock { $0 } == before)
    }

    @Test("POST /api/v1/downloads refuses private hosts in any spelling and unresolvable names; nothing is fetched or saved")
    func downloadsRefusePrivateHosts() async throws {
        let fake = try await FakeFileServer.start()
        fake.add("x.safetensors", safetensorsContent(size: 4096))
        let port = fake.server.port
        let outcome = await Result {
            try await TestApp.run(["ATELIER_ALLOW_PRIVATE_HOSTS": "false"]) { app in
                let (_, user) = try await app.makeUser("mallory")
                for host in ["[::ffff:127.0.0.1]", "[::ffff:0.0.0.0]", "[::127.0.0.1]", "127.0.0.1", "0.0.0.0", "localhost", "localhost."] {
                    let response = try await app.request(
                        .post,
                        "/api/v1/downloads",
                        token: user,
                        json: #"{"ref": "http://\#(host):\#(port)/files/x.safetensors"}"#
                    )
                    #expect([403, 422].contains(Int(response.status.code)), "\(host): \(response.status) \(response.detail)")
                    #expect(
                        response.detail.contains("ATELIER_ALLOW_PRIVATE_HOSTS") || response.detail.contains("host not found"),
                        "\(host): \(response.detail)"
                    )
                }
                let listed = try await app.request(.get, "/api/v1/downloads", token: user)
                #expect((listed.json["items"] as? [Any])?.isEmpty == true)
                let models = (app.runtime.config.dataDir as NSString).appendingPathComponent("models")
                let saved =
                    FileManager.default.enumerator(atPath: models)?.allObjects.compactMap { $0 as? String }
                    .filter { $0.hasSuffix(".safetensors") } ?? []
                #expect(saved.isEmpty)
            }
        }
        #expect(try await fake.settledRecordCount() == 0)
        await fake.stop()
        try outcome.get()
    }

    /// A hub client whose policy judges `public.test` as 93.184.216.34 (public) and dials that
    /// address at the loopback fake, so a pinned connection can be observed.
    static func withPinnedHub(_ resolver: Resolver, _ body: (HubHTTP) async throws -> Void) async throws {
        let client = HubHTTP.makeClient()
        let publicAddress = IPAddress("93.184.216.34")!
        let policy = AddressPolicy(
            allowPrivate: false,
            resolve: { resolver.resolve($0) },
            dial: { $0 == publicAddress ? IPAddress("127.0.0.1")! : $0 }
        )
        let outbound = OutboundHTTP(client: client, policy: policy) { HubHTTP.makeClient(dnsOverride: $0) }
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let result = await Result { try await body(HubHTTP(outbound: outbound, logger: logger)) }
        await outbound.shutdown()
        try? await client.shutdown()
        try result.get()
    }

    @Test("the connection goes to the address that was checked (no second lookup), with the URL's name as Host")
    func connectsToCheckedAddress() async throws {
        let fake = try await FakeFileServer.start()
        let content = safetensorsContent(size: 2048)
        fake.add("x.safetensors", content)
        let resolver = Resolver(["public.test": ["93.184.216.34"], "PUBLIC.test": ["93.184.216.34"]])
        let outcome = await Result {
            try await Self.withPinnedHub(resolver) { http in
                for name in ["public.test", "public.test", "PUBLIC.test"] {
                    // `public.test` resolves nowhere on this machine: only a connection to the
                    // pinned address can reach the fake, whatever the name's spelling.
                    let response = try await http.send(url: URL(string: "http://\(name):\(fake.server.port)/files/x.safetensors")!)
                    #expect(response.status == .ok)
                    #expect(Data(buffer: try await response.collect()) == content)
                }
            }
        }
        #expect(fake.records.compactMap { $0.host?.lowercased() } == Array(repeating: "public.test:\(fake.server.port)", count: 3))
        // Checked once per spelling and pinned: the second request did not look the name up again.
        #expect(resolver.calls.withLock { $0 } == 2)
        await fake.stop()
        try outcome.get()
    }

    @Test("a redirect from an allowed host to a private or unresolvable one is refused before it is followed")
    func redirectHopsAreChecked() async throws {
        let fake = try await FakeFileServer.start()
        fake.add("x.safetensors", safetensorsContent(size: 2048))
        let port = fake.server.port
        let resolver = Resolver(["public.test": ["93.184.216.34"]])
        let outcome = await Result {
            try await Self.withPinnedHub(resolver) { http in
                for (target, status) in [
                    ("http://[::ffff:127.0.0.1]:\(port)/files/x.safetensors", 403),
                    ("http://[::ffff:0.0.0.0]:\(port)/files/x.safetensors", 403),
                    ("http://localhost.:\(port)/files/x.safetensors", 422),
                ] {
                    let to = target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                    let error = await #expect(throws: AppError.self) {
                        _ = try await http.send(url: URL(string: "http://public.test:\(port)/redirect?to=\(to)")!)
                    }
                    #expect(error.map { Int($0.status.code) } == status, "\(target): \(String(describing: error))")
                }
            }
        }
        // Only the redirects were requested; the private target never was.
        #expect(fake.records.map(\.path) == ["/redirect", "/redirect", "/redirect"])
        await fake.stop()
        try outcome.get()
    }

    @Test("GPU workers and fleet nodes at private addresses are refused at create, naming ATELIER_ALLOW_PRIVATE_HOSTS")
    func workersAndNodesAreChecked() async throws {
        try await TestApp.run(["ATELIER_ALLOW_PRIVATE_HOSTS": "false"]) { app in
            let admin = try await app.login()
            for endpoint in ["http://10.0.0.5:7860", "http://[::ffff:127.0.0.1]:7860", "http://[64:ff9b::a9fe:a9fe]"] {
                let worker = try await app.request(
                    .post,
                    "/api/v1/workers",
                    token: admin,
                    json: #"{"name": "lan", "backend": "a1111", "endpoint": "\#(endpoint)"}"#
                )
                #expect(worker.status == .forbidden, "\(endpoint): \(worker.detail)")
                #expect(worker.detail.contains("ATELIER_ALLOW_PRIVATE_HOSTS=true"))
            }
            let node = try await app.request(
                .post,
                "/api/v1/fleet/nodes",
                token: admin,
                json: #"{"name": "gpu-lan", "url": "http://192.168.1.100:8000", "token": "atk_x"}"#
            )
            #expect(node.status == .forbidden)
            #expect(node.detail.contains("ATELIER_ALLOW_PRIVATE_HOSTS=true"))
            let nodes = try await app.request(.get, "/api/v1/fleet/nodes", token: admin)
            #expect((nodes.json["items"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("a worker stored while private hosts were allowed is refused at request time once they are not")
    func workerRequestsAreChecked() async throws {
        let fake = try await FakeA1111.start()
        let installation = try TestApp.freshInstallation()
        let outcome = await Result {
            let stored = Mutex("")
            try await TestApp.run(installation: installation, BackendTests.fast) { app in
                let admin = try await app.login()
                let created = try await app.request(
                    .post,
                    "/api/v1/workers",
                    token: admin,
                    json: #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(fake.url)"}"#
                )
                try #require(created.status == .created, "\(created.detail)")
                let id = try #require(created.json["id"] as? String)
                stored.withLock { $0 = id }
            }
            let id = stored.withLock { $0 }
            fake.script.withLockedValue { $0.requests = [] }
            try await TestApp.run(installation: installation, BackendTests.fast.merging(["ATELIER_ALLOW_PRIVATE_HOSTS": "false"]) { $1 }) { app in
                let admin = try await app.login()
                let check = try await app.request(.post, "/api/v1/workers/\(id)/check", token: admin)
                #expect(check.json["ok"] as? Bool == false)
                #expect((check.json["detail"] as? String)?.contains("ATELIER_ALLOW_PRIVATE_HOSTS=true") == true, "\(check.json)")
            }
        }
        #expect(fake.script.withLockedValue { $0.requests.isEmpty })
        await TestDatabase.cleanUp(installation)
        await fake.stop()
        try outcome.get()
    }

    @Test("a fleet node on a closed port reads 'connection refused', not NIO's errno text")
    func refusedNodeReadsPlainly() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            let registered = try await app.request(
                .post,
                "/api/v1/fleet/nodes",
                token: admin,
                json: #"{"name": "gpu-dead", "url": "http://127.0.0.1:1", "token": "atk_x"}"#
            )
            #expect(registered.status == .created)
            #expect(registered.json["detail"] as? String == "127.0.0.1: connection refused")
            let listed = try await app.request(.get, "/api/v1/fleet/nodes", token: admin)
            let row = try #require((listed.json["items"] as? [[String: Any]])?.first)
            #expect(row["status"] as? String == "offline")
            #expect(row["detail"] as? String == "127.0.0.1: connection refused")
            let fanned = try await app.request(.post, "/api/v1/fleet/downloads", token: admin, json: #"{"ref": "civitai:135867"}"#)
            let result = try #require((fanned.json["results"] as? [[String: Any]])?.first)
            #expect(result["error"] as? String == "node unreachable at http://127.0.0.1:1: connection refused")
        }
    }
}
