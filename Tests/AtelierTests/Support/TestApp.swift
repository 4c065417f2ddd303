import Accounts
import AtelierApp
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Storage
import Testing

/// A whole Atelier installation for one test, built by the same `AtelierRuntime` and
/// `ApplicationBuilder` production uses, on a fresh database.
struct TestApp {
    static let adminPassword = "admin-password-1"

    let runtime: AtelierRuntime
    let client: any TestClientProtocol

    /// Runs `body` against a fresh app. `settings` add to or override the test defaults.
    static func run(
        _ settings: [String: String] = [:],
        mode: TestingSetup = .router,
        _ body: @Sendable (TestApp) async throws -> Void
    ) async throws {
        let base = try freshInstallation()
        let result = await Result { try await run(installation: base, settings, mode: mode, body) }
        await TestDatabase.cleanUp(base)
        try result.get()
    }

    /// Data dir and database settings of a new installation; `run(installation:)` can start
    /// several apps on it in turn (a restart), and the caller removes it with `TestDatabase.cleanUp`.
    static func freshInstallation() throws -> [String: String] {
        try TestDatabase.settings(dataDir: TestDatabase.temporaryDirectory())
    }

    static func run(
        installation: [String: String],
        _ settings: [String: String] = [:],
        mode: TestingSetup = .router,
        _ body: @Sendable (TestApp) async throws -> Void
    ) async throws {
        var values = installation
        values["ATELIER_BCRYPT_COST"] = "4"
        values["ATELIER_ADMIN_PASSWORD"] = adminPassword
        // The fakes listen on 127.0.0.1; tests of the address checks set this to false.
        values["ATELIER_ALLOW_PRIVATE_HOSTS"] = "true"
        values.merge(settings) { $1 }
        let config = try AppConfig.from(values)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let runtime = try await AtelierRuntime.open(config, logger: logger)
        do {
            _ = try await runtime.bootstrapAdmin()
            let app = try ApplicationBuilder.buildApplication(runtime)
            try await app.test(mode) { client in
                try await body(TestApp(runtime: runtime, client: client))
            }
        } catch {
            await runtime.close()
            throw error
        }
        await runtime.close()
    }

    // MARK: requests

    @discardableResult
    func request(
        _ method: HTTPRequest.Method,
        _ uri: String,
        token: String? = nil,
        json: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await client.execute(
            uri: uri,
            method: method,
            headers: headers,
            body: json.map { ByteBuffer(string: $0) }
        )
    }

    func login(_ username: String = "admin", _ password: String = TestApp.adminPassword) async throws -> String {
        let response = try await request(
            .post,
            "/admin/auth/login",
            json: #"{"username": "\#(username)", "password": "\#(password)"}"#
        )
        try #require(response.status == .ok, "login of \(username) failed: \(String(buffer: response.body))")
        return try #require(response.json["access_token"] as? String)
    }

    /// Creates a user through the API (as admin) and returns its id and a token for it.
    func makeUser(
        _ username: String,
        role: Role = .user,
        password: String = "password-123"
    ) async throws
        -> (id: String, token: String)
    {
        let admin = try await login()
        let response = try await request(
            .post,
            "/admin/users",
            token: admin,
            json: """
                {"username": "\(username)", "password": "\(password)", "role": "\(role.rawValue)"}
                """
        )
        try #require(response.status == .created, "creating \(username): \(String(buffer: response.body))")
        let id = try #require(response.json["id"] as? String)
        return (id, try await login(username, password))
    }
}

extension TestResponse {
    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }

    var detail: String { json["detail"] as? String ?? "<no detail in \(String(buffer: body))>" }
}
