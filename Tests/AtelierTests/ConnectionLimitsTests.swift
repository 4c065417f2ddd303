import Foundation
import Testing

/// Connections are bounded: a slow header is cut at the header timeout, an idle connection at the
/// idle timeout, and one address cannot hold more than its share of the process's file handles.
@Suite("Connection limits", .timeLimit(.minutes(3)))
struct ConnectionLimitsTests {
    @Test("headers sent a byte at a time are cut off at the header timeout")
    func slowHeaders() async throws {
        try await TestApp.run(["ATELIER_HEADER_TIMEOUT_SECONDS": "1", "ATELIER_IDLE_TIMEOUT_SECONDS": "600"], mode: .live) { app in
            let port = try #require(app.client.port)
            let socket = try RawSocket(port: port)
            socket.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            // Closed after about one second even though the connection is far from idle-timed-out.
            #expect(await socket.waitForClose(timeout: .seconds(10)))
            // A connection that completes its request in time is answered and kept.
            let fast = try RawSocket(port: port)
            fast.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await fast.waitForClose(timeout: .milliseconds(1500)) == false)
        }
    }

    @Test("an idle connection is closed at the idle timeout")
    func idleConnections() async throws {
        try await TestApp.run(["ATELIER_IDLE_TIMEOUT_SECONDS": "1"], mode: .live) { app in
            let socket = try RawSocket(port: try #require(app.client.port))
            #expect(await socket.waitForClose(timeout: .seconds(10)))
        }
    }

    @Test("one address past its cap is turned away, and the server still answers others")
    func perAddressCap() async throws {
        try await TestApp.run(["ATELIER_MAX_CONNECTIONS_PER_ADDRESS": "4"], mode: .live) { app in
            let port = try #require(app.client.port)
            // From an address of their own: the test's HTTP client holds connections from 127.0.0.1.
            let held = try (0..<4).map { _ in try RawSocket(port: port, from: "127.0.0.3") }
            // Each held socket sends a request, so each is surely accepted and counted.
            for socket in held { socket.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n") }
            for socket in held { #expect(await socket.waitForClose(timeout: .milliseconds(300)) == false) }
            let extra = try RawSocket(port: port, from: "127.0.0.3")
            #expect(await extra.waitForClose(timeout: .seconds(5)))
            // Another address is served as usual.
            let other = try RawSocket(port: port, from: "127.0.0.2")
            other.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let answer = await other.read(timeout: .seconds(5))
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer.text)")
            _ = held
        }
    }
}
