import Accounts
import Assistant
import Bots
import Core
import Foundation
import Generation
import Hub
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Storage

/// Builds the HTTP application from an opened runtime. Tests call this too, so they exercise
/// exactly what production runs.
package enum ApplicationBuilder {
    package static func buildRouter(_ runtime: AtelierRuntime) throws -> Router<AppRequestContext> {
        let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
        let metrics = HTTPMetrics(registry: PrometheusCollectorRegistry())
        // Outermost first: the real client and link base (behind a proxy), the request id is on every line and response, the access log sees the
        // final status, errors become JSON bodies, then the body limit and authentication.
        router.add(middleware: ClientOriginMiddleware(proxies: runtime.config.trustedProxies, publicBase: runtime.config.publicBase))
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: AccessLogMiddleware(metrics: metrics))
        let routeIndex = RouteIndex()
        router.add(middleware: ErrorMiddleware<AppRequestContext>(routes: routeIndex))
        if !runtime.config.corsOrigins.isEmpty { router.add(middleware: CORSMiddleware(origins: runtime.config.corsOrigins)) }
        router.add(middleware: BodyLimitMiddleware(limit: runtime.config.maxBodyBytes))
        router.add(middleware: AuthMiddleware(authenticator: runtime.accounts.authenticator))

        let table = RouteTable(router: router)
        try registerRoutes(on: table, runtime, metrics: metrics)
        routeIndex.load(table.routes)
        return router
    }

    /// Every feature's routes. The OpenAPI document is registered last so it covers them all.
    static func registerRoutes(on table: RouteTable, _ runtime: AtelierRuntime, metrics: HTTPMetrics) throws {
        let secretary = runtime.secretary
        let isController = runtime.config.role == .controller
        SystemRoutes.registerHealth(on: table, database: runtime.database) {
            guard isController else { return nil }
            let llm = secretary.llmHealth()
            let speech = secretary.speech.status()
            return .init(services: ["llm": llm.state, "tts": speech.tts, "stt": speech.stt], llmBackend: llm.backend)
        }
        SystemRoutes.registerMetrics(on: table, metrics: metrics)
        AuthRoutes.register(on: table, accounts: runtime.accounts)
        APIKeyRoutes.register(on: table, accounts: runtime.accounts)
        CivitaiCompatRoutes.register(on: table, hub: runtime.hub)
        DownloadRoutes.register(on: table, manager: runtime.downloads)
        let studioModels = runtime.studio.models
        ModelRoutes.register(on: table, catalog: runtime.hub.catalog, folders: runtime.hub.folders) { user in
            try await studioModels.of(user: user).map {
                ModelRoutes.TrainedModel(id: $0.model_id, owner: $0.user_id ?? user, name: $0.name, triggerWord: $0.trigger_word, status: $0.status)
            }
        }
        // A node serves only what a GPU machine needs; the controller serves everything.
        if runtime.config.role == .controller {
            UserAdminRoutes.register(on: table, accounts: runtime.accounts)
            FleetRoutes.register(on: table, fleet: runtime.fleet)
            CatalogFileRoutes.register(on: table, catalog: runtime.hub.catalog, folders: runtime.hub.folders, links: runtime.catalogFileLinks)
            GenerationRoutes.register(on: table, service: runtime.generation)
            RunPodCompatRoutes.register(on: table, service: runtime.generation)
            WorkerRoutes.register(on: table, service: runtime.generation, box: runtime.workerBox)
            ReplicateWebhookRoutes.register(on: table, webhooks: runtime.generation.pool.factory.replicateWebhooks)
            ModelGenerateCompatRoutes.register(on: table, service: runtime.generation)
            BotRoutes.register(on: table, platform: runtime.bots, supervisor: runtime.config.runBots ? runtime.botSupervisor : nil)
            StudioRoutes.register(on: table, studio: runtime.studio, platform: runtime.bots, yooMoneySecret: runtime.config.yooMoneySecret)
            V1ChatRoutes.register(on: table, gateway: runtime.secretary.gateway, voice: runtime.secretary.answerVoice)
            ProviderRoutes.register(on: table, gateway: runtime.secretary.gateway, transport: runtime.secretary.transport)
            SecretaryRoutes.register(on: table, secretary: runtime.secretary.secretary)
            ChatSessionRoutes.register(on: table, secretary: runtime.secretary.secretary)
            let presets = TTSPresetStore(database: runtime.database)
            SpeechRoutes.register(on: table, speech: runtime.secretary.speech, secretary: runtime.secretary.secretary, presets: presets)
            TTSPresetRoutes.register(on: table, store: presets)
            PersonaRoutes.register(on: table, store: runtime.secretary.personas, directory: runtime.secretary.gateway.directory)
            UsageRoutes.register(on: table, gateway: runtime.secretary.gateway, database: runtime.database)
            WidgetRoutes.register(
                on: table,
                store: ChatWidgetStore(database: runtime.database),
                secretary: runtime.secretary.secretary,
                users: UserStore(database: runtime.database)
            )
            let bots = runtime.bots
            let users = UserStore(database: runtime.database)
            IncomingWebhookRoutes.register(
                on: table,
                store: IncomingWebhookStore(database: runtime.database),
                secrets: IncomingWebhookSecrets(github: runtime.config.githubWebhookSecret, amocrm: runtime.config.amoCRMWebhookSecret),
                announce: { text in
                    // Leads and pushes are the operator's: only bots of enabled admin accounts hear them.
                    await bots.announce(text) { owner in
                        guard let user = try? await users.find(id: owner) else { return false }
                        return user.role == .admin && !user.disabled
                    }
                }
            )
        }
        try SystemRoutes.registerOpenAPI(on: table)
    }

    package static func buildApplication(
        _ runtime: AtelierRuntime,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = try buildRouter(runtime)
        let config = runtime.config
        let limits = ConnectionLimits(
            headerTimeout: .seconds(Int64(config.headerTimeoutSeconds)),
            idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)),
            maxPerAddress: config.maxConnectionsPerAddress
        )
        var app = Application(
            router: router,
            server: .guardedHTTP1(limits),
            configuration: .init(
                address: .hostname(runtime.config.host, port: runtime.config.port),
                serverName: "atelier"
            ),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: runtime.logger
        )
        // Services start before the server and stop after it: the database closes last, once
        // in-flight requests have finished.
        app.addServices(RuntimeService(runtime: runtime), runtime.downloads)
        if runtime.config.role == .controller {
            app.addServices(runtime.generation.pool, runtime.secretary.directory, runtime.secretary.usage)
        }
        if runtime.config.role == .controller, runtime.config.runBots { app.addServices(runtime.botSupervisor) }
        return app
    }

    /// The OpenAPI document, built from the same route registrations the server uses. Needs no
    /// database connection: nothing is queried while routes are registered.
    package static func openAPIDocument(_ runtime: AtelierRuntime) throws -> JSONValue {
        let table = RouteTable(router: Router(context: AppRequestContext.self))
        try registerRoutes(on: table, runtime, metrics: HTTPMetrics(registry: PrometheusCollectorRegistry()))
        return try SystemRoutes.openAPIDocument(table)
    }
}

/// Keeps the database pool and the HTTP client open while the server runs; closes them on shutdown.
struct RuntimeService: Service {
    let runtime: AtelierRuntime

    func run() async throws {
        try? await gracefulShutdown()
        await runtime.close()
    }
}
