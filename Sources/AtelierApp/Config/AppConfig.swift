import Accounts
import Configuration
import Core
import Foundation
import Hub
import Logging
import Storage
import SystemPackage

/// The one typed configuration. Sources, highest first: command line > environment > `.env` file
/// > defaults. A malformed value stops the program with a message that names the setting.
package struct AppConfig: Sendable {
    package var host: String
    package var port: Int
    package var dataDir: String
    package var database: DatabaseConfiguration
    package var databasePoolSize: Int
    package var adminUsername: String
    package var adminPassword: Secret?
    package var jwtSecret: Secret?
    package var tokenLifetime: TimeInterval
    package var bcryptCost: UInt8
    package var maxBodyBytes: Int
    package var loginMaxFailures: Int
    package var loginMaxFailuresPerAddress: Int
    package var trustedProxies: TrustedProxies
    package var headerTimeoutSeconds: Int
    package var idleTimeoutSeconds: Int
    package var maxConnectionsPerAddress: Int
    package var civitaiToken: Secret?
    package var huggingFaceToken: Secret?
    package var civitaiURL: URL
    package var huggingFaceEndpoint: URL
    package var allowPrivateHosts: Bool
    package var modelsLayout: String
    /// nil: "auto", each download chooses.
    package var pullConnections: Int?
    package var pullMaxBytesPerSecond: Int?
    package var maxDownloads: Int
    package var role: ServerRole
    package var authRequired: Bool
    package var generationsPerHour: Int
    package var mockDelayMillis: Int
    package var jobLeaseSeconds: Int
    package var maxWaitSeconds: Int
    package var retryBaseMillis: Int
    package var publicImages: Bool
    package var imageLinkSeconds: Int
    package var runPodAPIKey: Secret?
    package var replicateToken: Secret?
    /// Browser origins allowed to call the API (CORS).
    package var corsOrigins: [String] = []
    package var telegramAPIURL: URL
    /// Whether this process runs Telegram bots.
    package var runBots: Bool
    package var telegramMessagesPerSecond: Int
    package var botLeaseSeconds: Int
    package var studioWelcomeTokens: Int
    package var studioImageCost: Int
    package var studioTrainingCost: Int
    package var referralPercent: Int
    /// Replicate trainer (`owner/name:version`) and destination model for /train.
    package var studioTrainer: String?
    package var studioTrainingDestination: String?
    package var replicateURL: URL
    package var yooMoneyWallet: String?
    package var yooMoneySecret: Secret?
    package var githubWebhookSecret: Secret?
    package var amoCRMWebhookSecret: Secret?
    package var assistantContextTokens: Int
    /// OpenAI-compatible speech servers replacing the embedded espeak-ng / pocketsphinx.
    package var ttsURL: URL?
    package var sttURL: URL?
    package var speechAPIKey: Secret?
    /// Where the outside world reaches this server (Replicate's webhooks); nil: not reachable.
    package var publicURL: URL?
    /// `publicURL` as a prefix for paths (no trailing slash).
    package var publicBase: String? {
        publicURL.map { $0.absoluteString.hasSuffix("/") ? String($0.absoluteString.dropLast()) : $0.absoluteString }
    }
    /// The base of absolute links made outside a request (webhooks): the public URL, else the
    /// listen address (a wildcard one named by this machine's host name).
    package var linkBase: String {
        if let publicBase { return publicBase }
        let name = ["0.0.0.0", "::", ""].contains(host) ? ProcessInfo.processInfo.hostName : host
        return "http://\(name.contains(":") ? "[\(name)]" : name):\(port)"
    }
    package var webhookURL: URL?
    package var webhookSecret: Secret?
    package var logLevel: Logger.Level

    /// Reads the configuration. `overrides` are command-line values keyed by environment name
    /// (`["ATELIER_PORT": "9000"]`); `environment` is the process environment; `envFile` is read
    /// if it exists.
    package static func load(
        overrides: [String: String] = [:],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        envFile: String? = ".env"
    ) async throws -> AppConfig {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "command line",
                values: Dictionary(
                    uniqueKeysWithValues: overrides.map { name, value in
                        (AbsoluteConfigKey(Self.key(name).split(separator: ".").map(String.init)), ConfigValue(.string(value), isSecret: false))
                    }
                )
            ),
            EnvironmentVariablesProvider(environmentVariables: environment),
        ]
        if let envFile {
            do {
                providers.append(try await EnvironmentVariablesProvider(environmentFilePath: FilePath(envFile), allowMissing: true))
            } catch {
                throw ConfigurationError(setting: envFile, problem: "the .env file could not be read: \(error)")
            }
        }
        let reader = ConfigReader(providers: providers)
        return try AppConfig(reading: { setting in
            for name in [setting.env] + setting.aliases {
                if let value = reader.string(forKey: ConfigKey(Self.key(name)), isSecret: setting.secret) {
                    return Self.unquote(value)
                }
            }
            return nil
        })
    }

    static func key(_ envName: String) -> String { envName.lowercased().replacingOccurrences(of: "_", with: ".") }

    /// `.env` files often quote values; the quotes are not part of the value.
    static func unquote(_ value: String) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        for quote in ["\"", "'"] where trimmed.count >= 2 && trimmed.hasPrefix(quote) && trimmed.hasSuffix(quote) {
            return String(trimmed.dropFirst().dropLast())
        }
        return trimmed
    }

    /// Builds and validates the configuration from a lookup (`nil` = not set anywhere).
    init(reading read: (Setting) -> String?) throws {
        func text(_ setting: Setting) -> String {
            let value = read(setting) ?? ""
            return value.isEmpty ? setting.defaultValue : value
        }
        func optional(_ setting: Setting) -> String? {
            guard let value = read(setting), !value.isEmpty else { return nil }
            return value
        }
        func integer(_ setting: Setting, _ range: ClosedRange<Int>) throws -> Int {
            let raw = text(setting)
            guard let value = Int(raw), range.contains(value) else {
                throw ConfigurationError(
                    setting: setting.env,
                    problem: "must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(setting.secret ? "<redacted>" : raw)'"
                )
            }
            return value
        }

        host = text(.host)
        port = try integer(.port, 0...65_535)
        dataDir = text(.dataDir)
        database = try DatabaseConfiguration.parse(
            databaseURL: optional(.databaseURL),
            dataDir: dataDir,
            schema: optional(.databaseSchema)
        )
        databasePoolSize = try integer(.databasePoolSize, 1...64)
        adminUsername = text(.adminUsername)
        do {
            adminUsername = try UserInput.username(adminUsername)
        } catch {
            throw ConfigurationError(setting: Setting.adminUsername.env, problem: "3–64 characters of a-z 0-9 . _ - @")
        }
        adminPassword = optional(.adminPassword).map(Secret.init)
        if let password = adminPassword, password.value.count < 8 {
            throw ConfigurationError(setting: Setting.adminPassword.env, problem: "must be at least 8 characters")
        }
        jwtSecret = optional(.jwtSecret).map(Secret.init)
        if let secret = jwtSecret, secret.value.utf8.count < 32 {
            throw ConfigurationError(setting: Setting.jwtSecret.env, problem: "must be at least 32 characters (or unset it to have one generated)")
        }
        tokenLifetime = TimeInterval(try integer(.tokenMinutes, 1...525_600) * 60)
        bcryptCost = UInt8(try integer(.bcryptCost, 4...16))
        maxBodyBytes = try integer(.maxBodyBytes, 1024...1 << 30)
        loginMaxFailures = try integer(.loginMaxFailures, 1...1000)
        loginMaxFailuresPerAddress = try integer(.loginMaxFailuresPerAddress, 0...1_000_000)
        do {
            trustedProxies = try TrustedProxies(parsing: text(.trustedProxies))
        } catch {
            throw ConfigurationError(setting: Setting.trustedProxies.env, problem: "\(error)")
        }
        headerTimeoutSeconds = try integer(.headerTimeout, 1...3600)
        idleTimeoutSeconds = try integer(.idleTimeout, 1...86_400)
        maxConnectionsPerAddress = try integer(.maxConnectionsPerAddress, 0...1_000_000)
        civitaiToken = optional(.civitaiToken).map(Secret.init)
        huggingFaceToken = optional(.huggingFaceToken).map(Secret.init)
        func baseURL(_ setting: Setting) throws -> URL {
            let raw = text(setting)
            guard let url = URL(string: raw), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                url.host?.isEmpty == false
            else {
                throw ConfigurationError(setting: setting.env, problem: "must be an http(s) base URL, got '\(raw)'")
            }
            return url
        }
        civitaiURL = try baseURL(.civitaiURL)
        huggingFaceEndpoint = try baseURL(.huggingFaceEndpoint)
        func flag(_ setting: Setting) throws -> Bool {
            switch text(setting).lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ConfigurationError(setting: setting.env, problem: "must be true or false")
            }
        }
        allowPrivateHosts = try flag(.allowPrivateHosts)
        authRequired = try flag(.authRequired)
        generationsPerHour = try integer(.generationsPerHour, 0...1_000_000)
        mockDelayMillis = try integer(.mockDelay, 0...600_000)
        jobLeaseSeconds = try integer(.jobLeaseSeconds, 2...3600)
        maxWaitSeconds = try integer(.maxWaitSeconds, 1...86_400)
        retryBaseMillis = try integer(.retryBaseMillis, 10...60_000)
        publicImages = try flag(.publicImages)
        imageLinkSeconds = try integer(.imageLinkSeconds, 60...31_536_000)
        runPodAPIKey = optional(.runPodAPIKey).map(Secret.init)
        replicateToken = optional(.replicateToken).map(Secret.init)
        publicURL = try optional(.publicURL).map { raw in
            guard let url = URL(string: raw), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ConfigurationError(setting: Setting.publicURL.env, problem: "must be an http(s) URL such as https://atelier.example.com")
            }
            return url
        }
        modelsLayout = text(.modelsLayout)
        pullConnections = try {
            let raw = text(.pullConnections)
            if raw.lowercased() == "auto" { return nil }
            guard let count = Int(raw), (1...64).contains(count) else {
                throw ConfigurationError(setting: Setting.pullConnections.env, problem: "must be auto or a whole number from 1 to 64, got '\(raw)'")
            }
            return count
        }()
        pullMaxBytesPerSecond = try optional(.pullRateLimit).map { raw in
            guard let value = BandwidthLimiter.parse(raw) else {
                throw ConfigurationError(setting: Setting.pullRateLimit.env, problem: "use bytes per second like 50M, 500K or 1048576")
            }
            return value
        }
        maxDownloads = try integer(.maxDownloads, 1...32)
        guard let role = ServerRole(rawValue: text(.role).lowercased()) else {
            throw ConfigurationError(setting: Setting.role.env, problem: "must be controller or node")
        }
        self.role = role
        webhookURL = try optional(.webhookURL).map { raw in
            guard let url = URL(string: raw), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw ConfigurationError(setting: Setting.webhookURL.env, problem: "must be an http(s) URL")
            }
            return url
        }
        webhookSecret = optional(.webhookSecret).map(Secret.init)
        corsOrigins = try (optional(.corsOrigins) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { origin in
                guard origin == "*" || (URL(string: origin)?.host != nil && ["http", "https"].contains(URL(string: origin)?.scheme ?? "")) else {
                    throw ConfigurationError(
                        setting: Setting.corsOrigins.env,
                        problem: "each origin must be like https://app.example.com, got '\(origin)'"
                    )
                }
                return origin.hasSuffix("/") ? String(origin.dropLast()) : origin
            }
        telegramAPIURL = try baseURL(.telegramAPIURL)
        runBots = try flag(.bots)
        telegramMessagesPerSecond = try integer(.telegramMessagesPerSecond, 1...1_000_000)
        botLeaseSeconds = try integer(.botLeaseSeconds, 2...3600)
        studioWelcomeTokens = try integer(.studioWelcomeTokens, 0...1_000_000)
        studioImageCost = try integer(.studioImageCost, 1...1_000_000)
        studioTrainingCost = try integer(.studioTrainingCost, 1...1_000_000)
        referralPercent = try integer(.referralPercent, 0...100)
        studioTrainer = optional(.studioTrainer)
        if let trainer = studioTrainer {
            let parts = trainer.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].split(separator: "/").count == 2, !parts[1].isEmpty else {
                throw ConfigurationError(
                    setting: Setting.studioTrainer.env,
                    problem: "must be owner/name:version, e.g. ostris/flux-dev-lora-trainer:<version id>"
                )
            }
        }
        studioTrainingDestination = optional(.studioTrainingDestination)
        if let destination = studioTrainingDestination, destination.split(separator: "/").count != 2 {
            throw ConfigurationError(setting: Setting.studioTrainingDestination.env, problem: "must be owner/name of a Replicate model you own")
        }
        if (studioTrainer == nil) != (studioTrainingDestination == nil) {
            throw ConfigurationError(
                setting: studioTrainer == nil ? Setting.studioTrainer.env : Setting.studioTrainingDestination.env,
                problem: "set both ATELIER_STUDIO_TRAINER and ATELIER_STUDIO_TRAINING_DESTINATION (and REPLICATE_API_TOKEN) to offer /train"
            )
        }
        replicateURL = try baseURL(.replicateURL)
        yooMoneyWallet = optional(.yooMoneyWallet)
        if let wallet = yooMoneyWallet, !(wallet.count >= 11 && wallet.count <= 20 && wallet.allSatisfy(\.isNumber)) {
            throw ConfigurationError(setting: Setting.yooMoneyWallet.env, problem: "must be the wallet number (11 to 20 digits)")
        }
        yooMoneySecret = optional(.yooMoneySecret).map(Secret.init)
        if yooMoneyWallet != nil, yooMoneySecret == nil {
            throw ConfigurationError(
                setting: Setting.yooMoneySecret.env,
                problem: "is needed with ATELIER_YOOMONEY_WALLET: without it payments could not be checked and would never be credited"
            )
        }
        githubWebhookSecret = optional(.githubWebhookSecret).map(Secret.init)
        amoCRMWebhookSecret = optional(.amoCRMWebhookSecret).map(Secret.init)
        assistantContextTokens = try integer(.assistantContextTokens, 512...10_000_000)
        ttsURL = optional(.ttsURL) == nil ? nil : try baseURL(.ttsURL)
        sttURL = optional(.sttURL) == nil ? nil : try baseURL(.sttURL)
        speechAPIKey = optional(.speechAPIKey).map(Secret.init)
        guard let level = Logger.Level(rawValue: text(.logLevel).lowercased()) else {
            throw ConfigurationError(
                setting: Setting.logLevel.env,
                problem: "must be one of trace, debug, info, notice, warning, error, critical"
            )
        }
        logLevel = level
    }

    /// Defaults with an explicit map of values, for tests and tools.
    package static func from(_ values: [String: String]) throws -> AppConfig {
        try AppConfig(reading: { setting in
            ([setting.env] + setting.aliases).lazy.compactMap { values[$0] }.first
        })
    }
}

/// What a process serves: everything, or only what a GPU machine needs.
package enum ServerRole: String, Sendable {
    case controller, node
}
