import AsyncHTTPClient
import AtelierApp
import Core
import Foundation
import Logging
import NIOCore
import SQLKit
import Storage
import Testing

/// The `atelier` executable as operators use it: CLI commands, first start, graceful shutdown,
/// and two servers starting at once on one database.
@Suite("The atelier executable", .timeLimit(.minutes(10)))
struct ProcessTests {
    /// Environment for a process on a fresh database, plus the folder to run it in.
    static func installation() throws -> (env: [String: String], dir: String) {
        let dir = TestDatabase.temporaryDirectory()
        var env = try TestDatabase.settings(dataDir: (dir as NSString).appendingPathComponent("data"))
        env["ATELIER_BCRYPT_COST"] = "4"
        return (env, dir)
    }

    static func get(_ url: String, token: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    static func post(_ url: String, json: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test("--version and --help answer without any setup")
    func versionAndHelp() async throws {
        let dir = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let version = try await AtelierBinary.run(["--version"], environment: [:], directory: dir)
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == AtelierVersion.current)
        let help = try await AtelierBinary.run(["--help"], environment: [:], directory: dir)
        for command in ["serve", "migrate", "user", "key", "openapi"] { #expect(help.stdout.contains(command)) }
        let userHelp = try await AtelierBinary.run(["user", "create", "--help"], environment: [:], directory: dir)
        #expect(userHelp.stdout.contains("--role"))
    }

    @Test("a bad setting stops the program with exit 2 and a message naming it")
    func badSetting() async throws {
        let dir = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try await AtelierBinary.run(["serve"], environment: ["ATELIER_PORT": "eighty"], directory: dir)
        #expect(result.status == 2)
        #expect(result.stderr.contains("ATELIER_PORT"))
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test("user and key commands: create (password from stdin), list, set-role, set-password, key create/list/revoke")
    func userAndKeyCommands() async throws {
        let (env, dir) = try Self.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let created = try await AtelierBinary.run(
            ["user", "create", "mira", "--role", "web"],
            environment: env,
            stdin: "mira-password-1\n",
            directory: dir
        )
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("created web mira"))
        #expect(!created.stdout.contains("mira-password-1") && !created.stderr.contains("mira-password-1"))

        let duplicate = try await AtelierBinary.run(["user", "create", "mira"], environment: env, stdin: "another-pass-1\n", directory: dir)
        #expect(duplicate.status == 1)
        #expect(duplicate.stderr.contains("taken"))

        let weak = try await AtelierBinary.run(["user", "create", "nora"], environment: env, stdin: "short\n", directory: dir)
        #expect(weak.status == 2)
        #expect(weak.stderr.contains("password"))

        #expect(try await AtelierBinary.run(["user", "set-role", "mira", "admin"], environment: env, directory: dir).status == 0)
        let list = try await AtelierBinary.run(["user", "list"], environment: env, directory: dir)
        #expect(list.stdout.contains("mira") && list.stdout.contains("admin"))

        let reset = try await AtelierBinary.run(["user", "set-password", "mira"], environment: env, stdin: "new-password-22\n", directory: dir)
        #expect(reset.status == 0, "\(reset.stderr)")

        let key = try await AtelierBinary.run(["key", "create", "--user", "mira", "--name", "ci"], environment: env, directory: dir)
        #expect(key.status == 0, "\(key.stderr)")
        let plaintext = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(plaintext.hasPrefix("atk_"))

        // The key and the new password work against the same installation.
        let config = try AppConfig.from(env)
        let runtime = try await AtelierRuntime.open(config, logger: Logger(label: "test"))
        let principal = try await runtime.accounts.authenticator.authenticate(headers: [.authorization: "Bearer \(plaintext)"])
        #expect(principal?.username == "mira")
        let login = await Result { try await runtime.accounts.login(username: "mira", password: "new-password-22", address: "test") }
        #expect((try? login.get()) != nil)
        await runtime.close()

        let keys = try await AtelierBinary.run(["key", "list"], environment: env, directory: dir)
        #expect(keys.stdout.contains("ci") && !keys.stdout.contains(plaintext))
        let keyID = try #require(keys.stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first)
        #expect(try await AtelierBinary.run(["key", "revoke", String(keyID)], environment: env, directory: dir).status == 0)
        #expect(try await AtelierBinary.run(["key", "list"], environment: env, directory: dir).stdout.contains("revoked"))
        await TestDatabase.cleanUp(env)
    }

    @Test("first start creates the admin with a password printed once; SIGTERM stops the server cleanly")
    func firstStartAndShutdown() async throws {
        let (env, dir) = try Self.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try ServerProcess(environment: env, directory: dir)
        let port = try await server.port()
        let health = try await Self.get("http://127.0.0.1:\(port)/health")
        #expect(health.status == 200)
        let password = try #require(server.stderr.firstMatch(of: /password: ([A-Za-z0-9]{20})/)?.1)
        let login = try await Self.post(
            "http://127.0.0.1:\(port)/admin/auth/login",
            json: #"{"username":"admin","password":"\#(password)"}"#
        )
        #expect(login.status == 200)
        #expect(try await server.terminate() == 0)
        #expect(server.stderr.contains("Server started") || server.stderr.contains("listening"))

        // A second start finds the admin and prints no password.
        let again = try ServerProcess(environment: env, directory: dir)
        _ = try await again.port()
        #expect(!again.stderr.contains("password:"))
        #expect(try await again.terminate() == 0)
        await TestDatabase.cleanUp(env)
    }

    @Test("the server raises its open-file limit to the hard limit at start")
    func openFileLimitRaised() async throws {
        let (env, dir) = try Self.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Started with a low soft limit, as a default `ulimit -n` of 1024 gives it.
        let server = try ServerProcess(environment: env, directory: dir, launcher: ["/usr/bin/prlimit", "--nofile=1024:"])
        _ = try await server.port()
        let limits = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        try #require(numbers.count == 2, "\(line)")
        #expect(numbers[0] == numbers[1], "soft limit \(numbers[0]) raised to the hard \(numbers[1])")
        #expect(numbers[0] > 1024)
        #expect(try await server.terminate() == 0)
        await TestDatabase.cleanUp(env)
    }

    @Test("two servers starting at once on one fresh database migrate once and create one admin")
    func concurrentStartUp() async throws {
        let (env, dir) = try Self.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try ServerProcess(environment: env, directory: dir)
        let second = try ServerProcess(environment: env, directory: dir)
        let ports = [try await first.port(), try await second.port()]
        for port in ports {
            #expect(try await Self.get("http://127.0.0.1:\(port)/health").status == 200)
        }
        let printed = [first.stderr, second.stderr].filter { $0.contains("password:") }
        #expect(printed.count == 1)
        #expect(try await first.terminate() == 0)
        #expect(try await second.terminate() == 0)

        let database = try Database.open(try AppConfig.from(env).database, logger: Logger(label: "test"))
        let users = try await database.sql.raw("SELECT COUNT(*) AS n FROM users").first()?.decode(column: "n", as: Int.self)
        let migrations = try await database.sql.raw("SELECT COUNT(*) AS n FROM atelier_migrations").first()?
            .decode(column: "n", as: Int.self)
        await database.close()
        #expect(users == 1)
        #expect(migrations == AllMigrations.list.count)
        await TestDatabase.cleanUp(env)
    }

    @Test("SIGTERM lets a request in flight finish before the server exits")
    func gracefulShutdownFinishesInFlight() async throws {
        var (env, dir) = try Self.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A slow bcrypt makes the login request last long enough to be in flight (~1 s). The
        // signal comes once the server reports it is answering it (http_requests_in_flight
        // counts the login and the /metrics read itself): sent before the request was accepted,
        // a connection still in the listen queue is rightly reset when the server stops accepting.
        env["ATELIER_BCRYPT_COST"] = "14"
        env["ATELIER_ADMIN_PASSWORD"] = "slow-password-1"
        let server = try ServerProcess(environment: env, directory: dir)
        let port = try await server.port()
        async let login = Self.post(
            "http://127.0.0.1:\(port)/admin/auth/login",
            json: #"{"username":"admin","password":"slow-password-1"}"#
        )
        var inFlight = 0
        for _ in 0..<500 where inFlight < 2 {
            let metrics = try await Self.get("http://127.0.0.1:\(port)/metrics")
            let line = metrics.body.split(separator: "\n").first { $0.hasPrefix("http_requests_in_flight ") }
            inFlight = line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
            if inFlight < 2 { try await Task.sleep(for: .milliseconds(10)) }
        }
        try #require(inFlight >= 2, "the login never showed as in flight")
        kill(server.process.processIdentifier, SIGTERM)
        let response = try await login
        #expect(response.status == 200, "\(response.body)")
        #expect(try await server.terminate() == 0)
        await TestDatabase.cleanUp(env)
    }
}
