import ArgumentParser
import AtelierApp
import Foundation
import Hummingbird
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (the default command).",
        discussion: "Stops gracefully on SIGTERM or SIGINT: stops accepting, finishes in-flight requests, closes the database."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to listen on (ATELIER_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (ATELIER_PORT, default 8000).")
    var port: Int?

    @Option(help: "controller (everything, the default) or node (a GPU machine: downloads, seed-000 API, health) (ATELIER_ROLE).")
    var role: String?

    @Option(
        help:
            "Where API and seed-000 downloads put models: atelier, a1111, comfyui, or the folder of an A1111/Forge or ComfyUI install (ATELIER_MODELS_LAYOUT)."
    )
    var layout: String?

    @Option(help: "Parallel connections per downloaded file, 1 to 64 (ATELIER_PULL_CONNECTIONS; default auto).")
    var connections: Int?

    @Option(help: "Cap the download bandwidth, e.g. 50M or 500K bytes per second (ATELIER_PULL_MAX_RATE).")
    var maxRate: String?

    @Option(help: "true or false: whether this process runs the Telegram bots (ATELIER_BOTS, default true; false for an API-only process).")
    var bots: String?

    func run() async throws {
        var extra: [String: String] = [:]
        extra["ATELIER_HOST"] = host
        extra["ATELIER_PORT"] = port.map(String.init)
        extra["ATELIER_ROLE"] = role
        extra["ATELIER_MODELS_LAYOUT"] = layout
        extra["ATELIER_PULL_CONNECTIONS"] = connections.map(String.init)
        extra["ATELIER_PULL_MAX_RATE"] = maxRate
        extra["ATELIER_BOTS"] = bots
        try await CLIErrors.report {
            let config = try await common.load(extra: extra, quiet: false)
            let logger = Logger(label: "atelier")
            let openFiles = OpenFileLimit.raiseToHardLimit()
            logger.debug("open file limit", metadata: ["limit": "\(openFiles)"])
            let runtime = try await AtelierRuntime.open(config, logger: logger)
            if let admin = try await runtime.bootstrapAdmin() {
                if let password = admin.generatedPassword {
                    printError(
                        """

                        ┌─ First start: created the admin account ─────────────────────
                        │ username: \(admin.username)
                        │ password: \(password.value)
                        │ This password is shown once. Change it with:
                        │   atelier user set-password \(admin.username)
                        └──────────────────────────────────────────────────────────────

                        """
                    )
                } else {
                    logger.notice(
                        "created the admin account from ATELIER_ADMIN_USERNAME/ATELIER_ADMIN_PASSWORD",
                        metadata: ["username": "\(admin.username)"]
                    )
                }
            }
            let host = config.host
            let app = try ApplicationBuilder.buildApplication(runtime) { port in
                logger.notice(
                    "Atelier \(AtelierVersion.current) (\(config.role.rawValue)) listening on http://\(host):\(port) (database: \(config.database))"
                )
            }
            try await app.runService()
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations and exit (the server also does this at start)."
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await CLIErrors.report {
            let runtime = try await common.open()
            let applied = try await runtime.migrationsApplied()
            print("database is up to date: \(applied.count) migrations applied (\(runtime.config.database))")
            await runtime.close()
        }
    }
}

struct OpenAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the OpenAPI 3.1 document of the HTTP API."
    )

    func run() async throws {
        try await CLIErrors.report {
            LoggingBootstrap.once(level: .warning)
            let json = try await AtelierRuntime.openAPIDocumentWithoutDatabase()
            print(String(decoding: json, as: UTF8.self))
        }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "List every setting: environment name, flag, default and meaning."
    )

    @Flag(help: "Print a Markdown table (as in the README).")
    var markdown = false

    @Flag(help: "Print a .env file with every setting commented out at its default (as .env.example).")
    var envExample = false

    func run() async throws {
        if markdown {
            print(SettingsDocument.markdownTable())
            return
        }
        if envExample {
            print(SettingsDocument.envExample(), terminator: "")
            return
        }
        for setting in Setting.all {
            let names = ([setting.env] + setting.aliases).joined(separator: ", ")
            let flag =
                setting.flag.map { " (\($0)" + (setting.commands.isEmpty ? "" : " on \(setting.commands.joined(separator: ", "))") + ")" } ?? ""
            let value = setting.defaultValue.isEmpty ? "unset" : setting.defaultValue
            print("\(names)\(flag)\n    default: \(value)\n    \(setting.meaning)")
        }
    }
}
