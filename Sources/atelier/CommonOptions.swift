import ArgumentParser
import AtelierApp
import Foundation
import Logging

/// Options every command that opens the installation takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Folder for the SQLite database, models and images (ATELIER_DATA_DIR).")
    var dataDir: String?

    @Option(help: "postgres://… to use PostgreSQL; default: SQLite in the data dir (DATABASE_URL).")
    var databaseURL: String?

    @Option(help: "A .env file to read settings from, if it exists.")
    var envFile: String = ".env"

    @Option(help: "Log level: trace, debug, info, notice, warning, error (ATELIER_LOG_LEVEL).")
    var logLevel: String?

    var overrides: [String: String] {
        var values: [String: String] = [:]
        values["ATELIER_DATA_DIR"] = dataDir
        values["DATABASE_URL"] = databaseURL
        values["ATELIER_LOG_LEVEL"] = logLevel
        return values
    }

    /// Loads the configuration and sets up logging to standard error. CLI commands other than
    /// `serve` log only warnings unless a level is asked for, so their output stays readable.
    func load(extra: [String: String] = [:], quiet: Bool = true) async throws -> AppConfig {
        let config = try await AppConfig.load(overrides: overrides.merging(extra) { $1 }, envFile: envFile)
        let level =
            (quiet && logLevel == nil && ProcessInfo.processInfo.environment["ATELIER_LOG_LEVEL"] == nil)
            ? Logger.Level.warning : config.logLevel
        LoggingBootstrap.once(level: level)
        return config
    }

    func open(quiet: Bool = true) async throws -> AtelierRuntime {
        let config = try await load(quiet: quiet)
        return try await AtelierRuntime.open(config, logger: Logger(label: "atelier"))
    }
}

/// LoggingSystem may be bootstrapped only once per process.
enum LoggingBootstrap {
    static func once(level: Logger.Level) {
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: level) }
    }
}

/// Writes to standard error (progress, prompts, one-time secrets) so standard output stays data.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
