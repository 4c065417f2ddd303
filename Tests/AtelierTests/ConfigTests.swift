import AtelierApp
import Core
import Foundation
import Storage
import Testing

@Suite("Configuration", .timeLimit(.minutes(5)))
struct ConfigTests {
    @Test("defaults need no settings at all: SQLite in ./atelier-data on 127.0.0.1:8000")
    func defaults() async throws {
        let config = try await AppConfig.load(environment: [:], envFile: nil)
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8000)
        #expect(config.dataDir == "./atelier-data")
        #expect(config.database == .sqlite(path: "./atelier-data/atelier.sqlite"))
        #expect(config.adminUsername == "admin")
        #expect(config.adminPassword == nil)
    }

    @Test("command line beats environment beats .env beats defaults")
    func precedence() async throws {
        let dir = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let envFile = (dir as NSString).appendingPathComponent(".env")
        try """
        # comment
        ATELIER_PORT=7001
        ATELIER_HOST=0.0.0.0
        ATELIER_ADMIN_USERNAME="boss"
        SECRET_KEY=\(String(repeating: "k", count: 32))
        """.write(toFile: envFile, atomically: true, encoding: .utf8)
        let fromFile = try await AppConfig.load(environment: [:], envFile: envFile)
        #expect(fromFile.port == 7001)
        #expect(fromFile.host == "0.0.0.0")
        #expect(fromFile.adminUsername == "boss")
        #expect(fromFile.jwtSecret?.value == String(repeating: "k", count: 32))

        let fromEnv = try await AppConfig.load(environment: ["ATELIER_PORT": "7002"], envFile: envFile)
        #expect(fromEnv.port == 7002)
        #expect(fromEnv.host == "0.0.0.0")

        let fromCLI = try await AppConfig.load(
            overrides: ["ATELIER_PORT": "7003"],
            environment: ["ATELIER_PORT": "7002"],
            envFile: envFile
        )
        #expect(fromCLI.port == 7003)
    }

    @Test(
        "bad settings stop start-up with a message naming the setting",
        arguments: [
            ("ATELIER_PORT", "eighty", "ATELIER_PORT"), ("ATELIER_PORT", "70000", "ATELIER_PORT"),
            ("DATABASE_URL", "mysql://x", "DATABASE_URL"), ("DATABASE_URL", "postgres://", "DATABASE_URL"),
            ("ATELIER_JWT_SECRET", "short", "ATELIER_JWT_SECRET"), ("ATELIER_BCRYPT_COST", "40", "ATELIER_BCRYPT_COST"),
            ("ATELIER_LOG_LEVEL", "loud", "ATELIER_LOG_LEVEL"), ("ATELIER_ADMIN_PASSWORD", "123", "ATELIER_ADMIN_PASSWORD"),
            ("ATELIER_CORS_ORIGINS", "app.example.com", "ATELIER_CORS_ORIGINS"), ("ATELIER_BOTS", "maybe", "ATELIER_BOTS"),
            ("ATELIER_TELEGRAM_API_URL", "telegram", "ATELIER_TELEGRAM_API_URL"),
            ("ATELIER_YOOMONEY_WALLET", "my-wallet", "ATELIER_YOOMONEY_WALLET"), ("ATELIER_REFERRAL_PERCENT", "150", "ATELIER_REFERRAL_PERCENT"),
        ]
    )
    func badSettings(name: String, value: String, named: String) async throws {
        do {
            _ = try await AppConfig.load(environment: [name: value], envFile: nil)
            Issue.record("\(name)=\(value) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.setting == named)
            #expect(!error.problem.isEmpty)
        }
    }

    @Test("secrets never show in descriptions")
    func redaction() throws {
        let config = try AppConfig.from([
            "DATABASE_URL": "postgres://atelier:hunter2hunter2@127.0.0.1:5432/atelier",
            "ATELIER_JWT_SECRET": String(repeating: "z", count: 40),
        ])
        #expect(!config.database.description.contains("hunter2"))
        #expect(!"\(config.jwtSecret!)".contains("zzzz"))
        #expect(!String(describing: config).contains("hunter2"))
    }

    @Test("the README's configuration table lists every setting")
    func readmeListsEverySetting() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for setting in Setting.all {
            #expect(readme.contains("`\(setting.env)`"), "README lacks \(setting.env)")
        }
    }
}
