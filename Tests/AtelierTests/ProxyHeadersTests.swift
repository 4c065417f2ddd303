import Core
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Who the client is behind a reverse proxy: forwarded headers count only from trusted proxies,
/// and then the client is the right-most address that is not a trusted proxy.
@Suite("Forwarded headers and the client's address", .timeLimit(.minutes(3)))
struct ProxyHeadersTests {
    static func headers(_ pairs: [(String, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in pairs { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return fields
    }

    @Test("addresses and ranges are compared as bytes, IPv4-mapped IPv6 as IPv4")
    func addressesAndRanges() throws {
        let loopback = try #require(CIDR("127.0.0.0/8"))
        #expect(loopback.contains(try #require(IPAddress("127.9.9.9"))))
        #expect(loopback.contains(try #require(IPAddress("::ffff:127.0.0.1"))))
        #expect(loopback.contains(try #require(IPAddress("[::ffff:7f00:1]"))))
        #expect(!loopback.contains(try #require(IPAddress("128.0.0.1"))))
        let v6 = try #require(CIDR("fd00::/8"))
        #expect(v6.contains(try #require(IPAddress("fd12:3456::1"))))
        #expect(!v6.contains(try #require(IPAddress("fe80::1%eth0"))))
        #expect(IPAddress("::ffff:10.1.2.3")?.description == "10.1.2.3")
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8::1")
        #expect(IPAddress("not-an-address") == nil)
        #expect(CIDR("10.0.0.0/33") == nil)
        #expect(throws: TrustedProxies.InvalidProxyList.self) { try TrustedProxies(parsing: "10.0.0.0/8, nginx") }
        #expect(try TrustedProxies(parsing: "none") == .nobody)
        let anyone = try TrustedProxies(parsing: "*")
        #expect(anyone.trusts(try #require(IPAddress("203.0.113.1"))))
    }

    @Test("the client is the right-most untrusted hop; a forged left part changes nothing")
    func rightMostUntrusted() throws {
        let proxies = try TrustedProxies(parsing: "127.0.0.1, 10.0.0.0/8")
        let forged = Self.headers([
            ("X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.2"),
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "atelier.example.com"),
        ])
        let origin = proxies.origin(peer: "::ffff:127.0.0.1", authority: "backend:8000", headers: forged)
        #expect(origin.clientAddress == "203.0.113.7")
        #expect(origin.baseURL == "https://atelier.example.com")

        // Every hop trusted: the left-most is the client.
        let inside = proxies.origin(peer: "127.0.0.1", authority: nil, headers: Self.headers([("X-Forwarded-For", "10.1.1.1, 10.0.0.2")]))
        #expect(inside.clientAddress == "10.1.1.1")

        // RFC 7239's header, with ports and quoting.
        let forwarded = proxies.origin(
            peer: "127.0.0.1",
            authority: nil,
            headers: Self.headers([
                ("Forwarded", #"for=6.6.6.6, for="[2001:db8::17]:4711";proto=https;host=photos.example"#)
            ])
        )
        #expect(forwarded.clientAddress == "2001:db8::17")
        #expect(forwarded.baseURL == "https://photos.example")
    }

    @Test("from an untrusted peer the headers are ignored; bad hosts never reach links")
    func untrustedPeer() throws {
        let proxies = TrustedProxies.loopback
        let claims = Self.headers([
            ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
        ])
        let origin = proxies.origin(peer: "198.51.100.20", authority: "atelier.example:8000", headers: claims)
        #expect(origin.clientAddress == "198.51.100.20")
        #expect(origin.baseURL == "http://atelier.example:8000")
        let badHost = proxies.origin(peer: "198.51.100.20", authority: "a.example/evil?x=", headers: [:])
        #expect(badHost.host == nil)
        #expect(badHost.baseURL == nil)
    }

    @Test("behind a proxy each client has its own guest budget, and links use its host and scheme")
    func guestsBehindProxy() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "1"], mode: .live) { app in
            func generate(_ client: String) async throws -> TestResponse {
                try await app.request(
                    .post,
                    "/api/v1/runpod/generate",
                    json: #"{"prompt": "a red fox"}"#,
                    headers: ProxyHeadersTests.headers([
                        ("X-Forwarded-For", "spoofed, \(client)"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "photos.example"),
                    ])
                )
            }
            let first = try await generate("203.0.113.1")
            #expect(first.status == .ok, "\(String(buffer: first.body))")
            #expect(try await generate("203.0.113.1").status == .tooManyRequests)
            #expect(try await generate("203.0.113.2").status == .ok)

            // The seed-001 status answer carries an absolute image_url built from the forwarded origin.
            let id = try #require(first.json["task_id"] as? String)
            // The same guest (its own address) asks: another guest's job is a 404.
            let asClient = ProxyHeadersTests.headers([
                ("X-Forwarded-For", "203.0.113.1"), ("X-Forwarded-Host", "photos.example"), ("X-Forwarded-Proto", "https"),
            ])
            var status = try await app.request(
                .get,
                "/api/v1/runpod/status/\(id)",
                headers: asClient
            )
            for _ in 0..<200 where (status.json["status"] as? String) != "success" {
                try await Task.sleep(for: .milliseconds(25))
                status = try await app.request(
                    .get,
                    "/api/v1/runpod/status/\(id)",
                    headers: asClient
                )
            }
            let result = try #require(status.json["result"] as? [String: Any], "\(String(buffer: status.body))")
            let url = try #require(result["image_url"] as? String)
            #expect(url.hasPrefix("https://photos.example/images/"), "\(url)")
        }
    }

    @Test("with no trusted proxy, forwarded headers change nothing")
    func untrustedHeadersChangeNothing() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "1", "ATELIER_TRUSTED_PROXIES": "none"], mode: .live) { app in
            func generate(_ client: String) async throws -> TestResponse {
                try await app.request(
                    .post,
                    "/api/v1/runpod/generate",
                    json: #"{"prompt": "a red fox"}"#,
                    headers: ProxyHeadersTests.headers([("X-Forwarded-For", client)])
                )
            }
            let first = try await generate("203.0.113.1")
            let second = try await generate("203.0.113.2")
            #expect(first.status == .ok)
            #expect(second.status == .tooManyRequests)
        }
    }

    @Test("the per-address login limit counts the real client, and is a setting")
    func loginThrottlePerClient() async throws {
        try await TestApp.run(["ATELIER_LOGIN_MAX_FAILURES_PER_ADDRESS": "3"], mode: .live) { app in
            func login(_ user: String, _ password: String, from client: String) async throws -> TestResponse {
                try await app.request(
                    .post,
                    "/admin/auth/login",
                    json: #"{"username": "\#(user)", "password": "\#(password)"}"#,
                    headers: ProxyHeadersTests.headers([("X-Forwarded-For", client)])
                )
            }
            for name in ["a1", "a2", "a3"] {
                #expect(try await login(name, "wrong-password", from: "203.0.113.66").status == .unauthorized)
            }
            let locked = try await login("admin", TestApp.adminPassword, from: "203.0.113.66")
            #expect(locked.status == .tooManyRequests)
            #expect(locked.headers[.retryAfter] != nil)
            #expect(try await login("admin", TestApp.adminPassword, from: "203.0.113.67").status == .ok)
        }
    }

    @Test("Location and status_url are absolute, from ATELIER_PUBLIC_URL when it is set")
    func absoluteLinks() async throws {
        try await TestApp.run(["ATELIER_PUBLIC_URL": "https://atelier.example.com/"], mode: .live) { app in
            let response = try await app.request(.post, "/api/v1/generations", json: #"{"prompt": "a lighthouse"}"#)
            #expect(response.status == .accepted)
            let id = try #require(response.json["id"] as? String)
            #expect(response.headers[.location] == "https://atelier.example.com/api/v1/generations/\(id)")
        }
        try await TestApp.run(mode: .live) { app in
            // Sent by hand: the test client writes its own Host header.
            let socket = try RawSocket(port: try #require(app.client.port))
            let body = #"{"prompt": "a lighthouse"}"#
            socket.send(
                "POST /api/v1/generations HTTP/1.1\r\nHost: studio.example:8443\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            )
            let answer = await socket.read(timeout: .seconds(10))
            #expect(answer.text.hasPrefix("HTTP/1.1 202"), "\(answer.text)")
            let location = answer.text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
            #expect(location?.contains("http://studio.example:8443/api/v1/generations/gen_") == true, "\(answer.text)")
        }
    }
}
