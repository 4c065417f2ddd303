import Accounts
import Assistant
import AsyncHTTPClient
import Billing
import Bots
import Core
import Foundation
import Generation
import Hub
import Logging
import Storage
import Telegram

/// The opened installation: configuration, database (migrated) and the services built on it.
/// The server and every CLI command start from here, so they share one set of rules.
package struct AtelierRuntime: Sendable {
    package let config: AppConfig
    package let database: Database
    package let accounts: AccountService
    package let hub: HubService
    package let downloads: DownloadManager
    package let webhooks: WebhookSender
    package let fleet: FleetService
    /// Signed links the fleet's nodes fetch files only this server has from.
    package let catalogFileLinks: CatalogFileLinks
    package let generation: GenerationService
    /// Seals worker tokens (RunPod keys, A1111 passwords) in the database.
    package let workerBox: SecretBox
    /// The one outbound HTTP client (hubs, CDNs, and later GPU backends and LLM upstreams).
    package let httpClient: HTTPClient
    /// Every request to a URL a user or admin supplied: address checked, connection pinned to it.
    package let outbound: OutboundHTTP
    /// The LLM gateway's client and its two ways out (private addresses allowed as the
    /// installation says, and public only): no read timeout, the gateway keeps its own timers.
    let llmClient: HTTPClient
    let llmOutbounds: [OutboundHTTP]
    /// Token balances (the studio's people, later API callers who pay).
    package let ledger: TokenLedger
    /// Telegram bots: the stored instances, their tokens and limiters.
    package let bots: BotPlatform
    /// Runs the started bots in this process (a service only when `ATELIER_BOTS` is true).
    package let botSupervisor: BotSupervisor
    /// Seed 002's photo studio.
    package let studio: StudioBot
    /// Seed 004's secretary: the OpenAI-compatible gateway, personas, conversations, speech.
    package let secretary: SecretaryService
    package let logger: Logger

    /// Opens the database, applies pending migrations and loads or generates the signing key.
    package static func open(_ config: AppConfig, logger: Logger, migrate: Bool = true) async throws -> AtelierRuntime {
        // Created for its owner only: it holds the SQLite database, partial downloads and images.
        if !FileManager.default.fileExists(atPath: config.dataDir) {
            try FileManager.default.createDirectory(
                atPath: config.dataDir,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        }
        let database = try Database.open(config.database, poolSize: config.databasePoolSize, logger: logger)
        do {
            if migrate {
                try await Migrator(database: database, logger: logger).migrate(AllMigrations.list)
            }
            var secret: Secret
            if let configured = config.jwtSecret {
                secret = configured
            } else {
                secret = Secret(
                    try await SettingsStore(database: database).valueOrInsert("jwt_secret") {
                        RandomToken.base62(64)
                    }
                )
            }
            let tokens = await TokenService(secret: secret, lifetime: config.tokenLifetime)
            return AtelierRuntime(config: config, database: database, tokens: tokens, masterSecret: secret, logger: logger)
        } catch {
            await database.close()
            throw DatabaseUnavailable(configuration: config.database, underlying: error)
        }
    }

    /// Builds every service on an open database. Nothing here connects anywhere.
    init(config: AppConfig, database: Database, tokens: TokenService, masterSecret: Secret, logger: Logger) {
        self.config = config
        self.database = database
        self.logger = logger
        self.accounts = AccountService(
            database: database,
            hasher: PasswordHasher(cost: config.bcryptCost),
            tokens: tokens,
            throttle: LoginThrottle(
                policy: .init(
                    maxFailures: config.loginMaxFailures,
                    maxFailuresPerAddress: config.loginMaxFailuresPerAddress
                )
            ),
            logger: logger
        )
        let httpClient = HubHTTP.makeClient()
        self.httpClient = httpClient
        let outbound = HubHTTP.makeOutbound(client: httpClient, allowPrivate: config.allowPrivateHosts)
        self.outbound = outbound
        let hub = HubService(
            settings: Self.hubSettings(config),
            http: HubHTTP(outbound: outbound, logger: logger),
            database: database,
            logger: logger
        )
        self.hub = hub
        let webhooks = WebhookSender(url: config.webhookURL, secret: config.webhookSecret, client: outbound, logger: logger)
        self.webhooks = webhooks
        let fleet = FleetService(
            store: FleetStore(database: database),
            client: outbound,
            box: SecretBox(masterSecret: masterSecret, purpose: "fleet-node-token"),
            logger: logger
        )
        self.fleet = fleet
        let catalogFileLinks = CatalogFileLinks(masterSecret: masterSecret)
        self.catalogFileLinks = catalogFileLinks
        let images = ImageStore(root: (config.dataDir as NSString).appendingPathComponent("images"))
        let workerBox = SecretBox(masterSecret: masterSecret, purpose: "worker-token")
        let links = ImageLinks(masterSecret: masterSecret, publicImages: config.publicImages, lifetimeSeconds: Int64(config.imageLinkSeconds))
        // The receiver is another machine: image URLs are absolute (from the public address, else
        // the address this server listens on), and signed when images are private.
        let imageBase = config.linkBase
        // Without a webhook URL nobody listens, and finished jobs are not read back. A job ends
        // once, so its end has one delivery id: a receiver drops a second announcement of it.
        let announce: @Sendable (Job) -> Void = { job in
            webhooks.send(
                event: "generation.\(job.state.rawValue)",
                data: GenerationEvent(job, imageURL: { imageBase + links.url($0) }),
                deliveryID: "whd_\(job.id)_\(job.state.rawValue)"
            )
        }
        let events = JobEvents(onFinish: config.webhookURL == nil ? nil : announce)
        let replicateWebhooks = ReplicateWebhooks(publicURL: config.publicBase)
        let backendTransport = BackendTransport(
            policy: outbound.policy,
            send: { try await outbound.execute($0, timeout: $1, field: "endpoint") },
            describe: NetworkErrors.describe
        )
        let pool = RunnerPool(
            workers: WorkerStore(database: database),
            jobs: JobStore(database: database),
            images: images,
            factory: BackendFactory(
                client: backendTransport,
                box: workerBox,
                mockDelay: .milliseconds(config.mockDelayMillis),
                runPodAPIKey: config.runPodAPIKey,
                replicateToken: config.replicateToken,
                replicateWebhooks: replicateWebhooks
            ),
            settings: QueueSettings(
                leaseMillis: Int64(config.jobLeaseSeconds) * 1000,
                retryBaseMillis: Int64(config.retryBaseMillis),
                maxWaitMillis: Int64(config.maxWaitSeconds) * 1000
            ),
            provisioner: CatalogProvisioner(
                catalog: hub.catalog,
                hub: hub,
                fleet: fleet,
                fileLinks: catalogFileLinks,
                publicBase: config.publicBase,
                logger: logger
            ),
            events: events,
            logger: logger
        )
        self.workerBox = workerBox
        let assistant = Self.assistant(config, database: database, masterSecret: masterSecret, httpClient: httpClient, logger: logger)
        let secretary = assistant.secretary
        llmClient = assistant.llmClient
        llmOutbounds = assistant.outbounds
        self.secretary = secretary
        let generation = GenerationService(
            database: database,
            pool: pool,
            images: images,
            authRequired: config.authRequired,
            perHour: config.generationsPerHour,
            links: links,
            catalog: HubModelCatalog(catalog: hub.catalog),
            enhancer: SecretaryPromptEnhancer(writer: PromptWriter(gateway: secretary.gateway))
        )
        self.generation = generation
        let ledger = TokenLedger(database: database) { account, balance, db in
            try await StudioUsers.mirror(account: account, balance: balance, db: db)
        }
        self.ledger = ledger
        var studioSettings = StudioSettings()
        studioSettings.welcomeTokens = Int64(config.studioWelcomeTokens)
        studioSettings.generationCost = Int64(config.studioImageCost)
        studioSettings.trainingCost = Int64(config.studioTrainingCost)
        studioSettings.referralPercent = config.referralPercent
        studioSettings.yooMoneyWallet = config.yooMoneyWallet
        let studio = StudioBot(
            database: database,
            ledger: ledger,
            generator: StudioImageGenerator(
                service: generation,
                catalog: hub.catalog,
                imageURL: { imageBase + links.url($0) }
            ),
            trainer: Self.trainer(config, transport: backendTransport, hub: hub, logger: logger),
            settings: studioSettings
        )
        self.studio = studio
        let downloads = DownloadManager(
            hub: hub,
            store: DownloadStore(database: database),
            maxConcurrent: config.maxDownloads,
            logger: logger
        ) { record in
            webhooks.send(event: "download.\(record.status.rawValue)", data: DownloadEvent(record))
        }
        self.downloads = downloads
        var botSettings = BotPlatform.Settings(apiURL: config.telegramAPIURL.absoluteString, publicBase: config.publicBase)
        botSettings.messagesPerSecond = config.telegramMessagesPerSecond
        botSettings.leaseMillis = Int64(config.botLeaseSeconds) * 1000
        let studioUsers = studio.users
        let bots = BotPlatform(
            store: BotStore(database: database),
            updates: UpdateLog(database: database),
            settings: botSettings,
            box: SecretBox(masterSecret: masterSecret, purpose: "telegram-bot-token"),
            http: httpClient,
            behaviors: [
                .studio: studio,
                .assistant: AssistantBot(assistant: SecretaryAssistantPort(service: secretary, users: UserStore(database: database))),
                .downloads: DownloadsBot(
                    fleet: HubModelFleet(hub: hub, fleet: fleet, downloads: downloads),
                    store: FleetDownloadStore(database: database)
                ),
            ],
            unreachable: { bot, chat in
                if bot.kind == .studio, chat > 0 { try? await studioUsers.setBotBlocked(chat) }
            },
            logger: logger
        )
        self.bots = bots
        self.botSupervisor = BotSupervisor(platform: bots, logger: logger)
    }

    /// Creates the bootstrap admin when the installation has no users yet.
    package func bootstrapAdmin() async throws -> AccountService.BootstrapAdmin? {
        try await accounts.bootstrapAdmin(username: config.adminUsername, password: config.adminPassword)
    }

    /// Replicate trains the studio's LoRAs when the trainer, its destination and a token are set.
    static func trainer(_ config: AppConfig, transport: BackendTransport, hub: HubService, logger: Logger) -> (any LoraTrainer)? {
        guard let trainer = config.studioTrainer, let destination = config.studioTrainingDestination, let token = config.replicateToken,
            let trainings = try? ReplicateTrainings(
                client: transport,
                base: config.replicateURL,
                token: token,
                trainer: trainer,
                destination: destination
            )
        else { return nil }
        return ReplicateLoraTrainer(trainings: trainings, hub: hub, logger: logger)
    }

    static func hubSettings(_ config: AppConfig) -> HubSettings {
        let data = config.dataDir as NSString
        return HubSettings(
            civitaiURL: config.civitaiURL,
            civitaiToken: config.civitaiToken,
            huggingFaceEndpoint: config.huggingFaceEndpoint,
            huggingFaceToken: config.huggingFaceToken,
            modelsRoot: data.appendingPathComponent("models"),
            workDir: data.appendingPathComponent("tmp"),
            defaultLayout: config.modelsLayout,
            allowPrivateHosts: config.allowPrivateHosts,
            connections: config.pullConnections,
            maxBytesPerSecond: config.pullMaxBytesPerSecond
        )
    }

    package func close() async {
        await outbound.shutdown()
        for client in llmOutbounds { await client.shutdown() }
        try? await httpClient.shutdown()
        try? await llmClient.shutdown()
        await database.close()
    }
}

/// Start-up could not use the database. Says which one (never the password) and why.
package struct DatabaseUnavailable: Error, CustomStringConvertible {
    package var configuration: DatabaseConfiguration
    package var underlying: any Error

    package var description: String {
        if let error = underlying as? ConfigurationError { return error.description }
        return "cannot use the database \(configuration): \(Self.explain(underlying)). Check DATABASE_URL (or ATELIER_DATA_DIR for SQLite)."
    }

    static func explain(_ error: any Error) -> String {
        let text = String(describing: error)
        // PostgresNIO and SQLiteNIO describe themselves without credentials; keep the first line.
        return text.split(separator: "\n").first.map(String.init) ?? text
    }
}

extension AtelierRuntime {
    package func migrationsApplied() async throws -> [String] {
        try await Migrator(database: database, logger: logger).appliedIDs()
    }

    /// The OpenAPI document without touching any database: routes are registered against a
    /// runtime whose database pool is never asked for a connection.
    package static func openAPIDocumentWithoutDatabase() async throws -> Data {
        var config = try AppConfig.from([:])
        config.database = .sqlite(path: (NSTemporaryDirectory() as NSString).appendingPathComponent("atelier-openapi-unused.sqlite"))
        let logger = Logger(label: "atelier.openapi")
        let database = try Database.open(config.database, logger: logger)
        let secret = Secret(RandomToken.base62(64))
        let tokens = await TokenService(secret: secret, lifetime: 60)
        let runtime = AtelierRuntime(config: config, database: database, tokens: tokens, masterSecret: secret, logger: logger)
        let document = Result { try ApplicationBuilder.openAPIDocument(runtime).jsonData(pretty: true) }
        await runtime.close()
        return try document.get()
    }
}
