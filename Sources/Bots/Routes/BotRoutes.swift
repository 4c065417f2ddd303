import Accounts
import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Telegram

/// `/admin/telegram/bots`: bot instances as seed 004 manages its bots, with owner isolation
/// (admins see every bot; users and web accounts their own; guests read only; another owner's
/// bot is 404), and `POST /telegram/{bot_id}/webhook` where Telegram delivers updates in webhook
/// mode. The token is write-only: answers say `has_token`, never the token.
package enum BotRoutes {
    struct BotResponse: ResponseEncodable {
        var id: String
        var name: String
        var kind: String
        var mode: String
        var owner_id: String
        var username: String?
        var telegram_id: Int64?
        var admin_ids: [Int64]
        var persona: String?
        var has_token: Bool
        /// An admin asked for it to run.
        var running: Bool
        /// Some process holds it right now.
        var active: Bool
        var webhook_url: String?
        var last_error: String?
        var created_at: Date
        var updated_at: Date

        init(_ bot: BotRecord, platform: BotPlatform) {
            id = bot.id
            name = bot.name
            kind = bot.kind.rawValue
            mode = bot.mode.rawValue
            owner_id = bot.ownerID
            username = bot.username
            telegram_id = bot.telegramID
            admin_ids = bot.adminIDs
            persona = bot.persona
            has_token = true
            running = bot.running
            active = bot.running && bot.isLeased(now: Timestamp.millis(Date()))
            webhook_url = bot.mode == .webhook ? platform.webhookURL(bot) : nil
            last_error = bot.lastError
            created_at = Timestamp.date(bot.createdAt)
            updated_at = Timestamp.date(bot.updatedAt)
        }
    }

    struct BotList: ResponseEncodable {
        var items: [BotResponse]
    }

    struct TestResponse: ResponseEncodable {
        var ok: Bool
        var username: String?
        var telegram_id: Int64?
        var detail: String
    }

    static let schema = Schema.object(
        [
            ("id", Schema.string), ("name", Schema.string), ("kind", Schema.string(enum: BotKind.allCases.map(\.rawValue))),
            ("mode", Schema.string(enum: BotMode.allCases.map(\.rawValue))), ("owner_id", Schema.string),
            ("username", Schema.nullable(Schema.string)), ("telegram_id", Schema.nullable(Schema.integer)),
            ("admin_ids", Schema.array(Schema.integer)), ("persona", Schema.nullable(Schema.string)), ("has_token", Schema.boolean),
            ("running", Schema.boolean),
            ("active", Schema.boolean), ("webhook_url", Schema.nullable(Schema.string)), ("last_error", Schema.nullable(Schema.string)),
            ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
        ],
        required: ["id", "name", "kind", "mode", "running", "active"]
    )

    static func input(required: Bool) -> JSONValue {
        Schema.object(
            [
                ("name", Schema.string(minLength: 1, maxLength: BotInput.maxName)),
                ("token", Schema.string(maxLength: BotInput.maxToken)),
                ("kind", Schema.string(enum: BotKind.allCases.map(\.rawValue))),
                ("mode", Schema.string(enum: BotMode.allCases.map(\.rawValue))),
                ("admin_ids", Schema.array(Schema.integer, maxItems: BotInput.maxAdmins)),
                ("persona", Schema.string(maxLength: 64)),
            ],
            required: required ? ["name", "token", "kind"] : []
        )
    }

    package static func register(on table: RouteTable, platform: BotPlatform, supervisor: BotSupervisor?) {
        let tags = ["telegram bots"]
        let store = platform.store
        table.schema("TelegramBot", schema)
        let ref = Schema.ref("TelegramBot")

        table.get(
            "/admin/telegram/bots",
            OperationDoc(
                "Telegram bots (yours; an admin sees all)",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Bots", schema: Schema.object([("items", Schema.array(ref))]))]
            )
        ) { _, context in
            let principal = try context.require(.guest)
            return BotList(items: try await store.list(scope: OwnerScope(principal)).map { BotResponse($0, platform: platform) })
        }

        table.post(
            "/admin/telegram/bots",
            OperationDoc(
                "Add a bot: `name`, `token` (from @BotFather; stored sealed, never shown again), `kind` (studio, downloads or assistant), `mode` (polling, the default, or webhook, which needs ATELIER_PUBLIC_URL), `admin_ids` (Telegram user ids with the admin commands and notifications; a group's negative chat id gets the notifications only); then start it",
                tags: tags,
                auth: .writer,
                request: input(required: true),
                responses: [.init(201, "Added (not running yet)", schema: ref)],
                errors: [409]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let body = try await request.decodeJSON(BotInput.self, context: context)
            guard let name = body.name else { throw AppError.validation(field: "name", "field required") }
            guard let token = body.token else { throw AppError.validation(field: "token", "field required") }
            guard let kindName = body.kind else { throw AppError.validation(field: "kind", "field required: studio, downloads or assistant") }
            let kind = try BotInput.checkedKind(kindName)
            if kind != .assistant { try requireAdminForShared(context) }
            let sealed = try platform.seal(token: try BotInput.checkedToken(token))
            var bot = BotRecord(
                ownerID: principal.userID,
                name: try BotInput.checkedName(name),
                kind: kind,
                mode: try BotInput.checkedMode(body.mode ?? "polling"),
                sealedToken: sealed.sealed,
                tokenFingerprint: sealed.fingerprint,
                adminIDs: try BotInput.checkedAdmins(body.admin_ids ?? []),
                now: Timestamp.millis(Date())
            )
            bot.persona = body.persona.flatMap { $0.isEmpty ? nil : $0 }
            try await store.insert(bot)
            return JSONResponse(
                .created,
                BotResponse(bot, platform: platform),
                headers: [.location: context.absolute("/admin/telegram/bots/\(bot.id)")]
            )
        }

        table.get(
            "/admin/telegram/bots/{id}",
            OperationDoc("One bot", tags: tags, auth: .role(.guest), responses: [.init(200, "Bot", schema: ref)])
        ) { _, context in
            BotResponse(try await find(store, context, write: false), platform: platform)
        }

        let change = OperationDoc(
            "Change a bot (name, token, mode, admin_ids, persona; a running bot restarts with the change)",
            tags: tags,
            auth: .writer,
            request: input(required: false),
            responses: [.init(200, "Changed", schema: ref)],
            errors: [409]
        )
        // Seed 004 updates with PUT; PATCH says the same (any subset of the fields).
        let update: @Sendable (Request, AppRequestContext) async throws -> BotResponse = { request, context in
            var bot = try await find(store, context, write: true)
            let body = try await request.decodeJSON(BotInput.self, context: context)
            if bot.kind != .assistant { try requireAdminForShared(context) }
            if let kind = body.kind, kind != bot.kind.rawValue {
                throw AppError.validation(field: "kind", "cannot change; add another bot with this kind")
            }
            if let name = body.name { bot.name = try BotInput.checkedName(name) }
            if let mode = body.mode { bot.mode = try BotInput.checkedMode(mode) }
            if let admins = body.admin_ids { bot.adminIDs = try BotInput.checkedAdmins(admins) }
            if let persona = body.persona { bot.persona = persona.isEmpty ? nil : persona }
            var newToken = false
            if let token = body.token {
                let sealed = try platform.seal(token: try BotInput.checkedToken(token))
                bot.sealedToken = sealed.sealed
                if sealed.fingerprint != bot.tokenFingerprint {
                    bot.tokenFingerprint = sealed.fingerprint
                    bot.username = nil
                    bot.telegramID = nil
                    newToken = true
                }
            }
            let now = Timestamp.millis(Date())
            try await store.update(bot, now: now)
            // Another bot's offset would make Telegram drop the new bot's first updates.
            if newToken { try await platform.updates.forget(bot: bot.id) }
            bot.updatedAt = now
            supervisor?.reload()
            return BotResponse(bot, platform: platform)
        }
        table.put("/admin/telegram/bots/{id}", change, handler: update)
        table.add(.patch, "/admin/telegram/bots/{id}", change, handler: update)

        table.delete(
            "/admin/telegram/bots/{id}",
            OperationDoc("Remove a bot (it stops first)", tags: tags, auth: .writer, responses: [.init(204, "Removed")])
        ) { _, context in
            let bot = try await find(store, context, write: true)
            if bot.kind != .assistant { try requireAdminForShared(context) }
            if bot.mode == .webhook, bot.running, let client = try? platform.client(bot) {
                // Or Telegram keeps posting to a route that answers 404.
                try? await client.deleteWebhook()
            }
            try await store.delete(id: bot.id)
            try await platform.updates.forget(bot: bot.id)
            platform.forget(bot.id)
            supervisor?.reload()
            return Response(status: .noContent)
        }

        table.post(
            "/admin/telegram/bots/{id}/start",
            OperationDoc(
                "Start the bot: one process on this database takes it (polling, or registering the webhook) within seconds",
                tags: tags,
                auth: .writer,
                responses: [.init(200, "Started", schema: ref)]
            )
        ) { _, context in
            var bot = try await find(store, context, write: true)
            if bot.mode == .webhook, platform.webhookURL(bot) == nil {
                throw AppError.validation(
                    field: "mode",
                    "webhook mode needs ATELIER_PUBLIC_URL, the https address Telegram can reach; or use polling"
                )
            }
            let now = Timestamp.millis(Date())
            try await store.setRunning(id: bot.id, true, now: now)
            bot.running = true
            bot.lastError = nil
            bot.updatedAt = now
            supervisor?.reload()
            return BotResponse(bot, platform: platform)
        }

        table.post(
            "/admin/telegram/bots/{id}/stop",
            OperationDoc(
                "Stop the bot (updates wait at Telegram until it starts again)",
                tags: tags,
                auth: .writer,
                responses: [.init(200, "Stopped", schema: ref)]
            )
        ) { _, context in
            var bot = try await find(store, context, write: true)
            let now = Timestamp.millis(Date())
            try await store.setRunning(id: bot.id, false, now: now)
            if bot.mode == .webhook, let client = try? platform.client(bot) {
                // Without this Telegram keeps posting to a bot that answers nothing.
                try? await client.deleteWebhook()
            }
            bot.running = false
            bot.updatedAt = now
            supervisor?.reload()
            return BotResponse(bot, platform: platform)
        }

        table.post(
            "/admin/telegram/bots/{id}/test",
            OperationDoc(
                "Ask Telegram who the token belongs to (getMe, 30 s timeout)",
                tags: tags,
                auth: .writer,
                responses: [
                    .init(
                        200,
                        "Result",
                        schema: Schema.object([
                            ("ok", Schema.boolean), ("username", Schema.nullable(Schema.string)), ("telegram_id", Schema.nullable(Schema.integer)),
                            ("detail", Schema.string),
                        ])
                    )
                ]
            )
        ) { _, context in
            let bot = try await find(store, context, write: true)
            do {
                let me = try await platform.client(bot).getMe()
                try await store.setIdentity(id: bot.id, username: me.username, telegramID: me.id)
                return TestResponse(
                    ok: true,
                    username: me.username,
                    telegram_id: me.id,
                    detail: "Telegram knows this token: @\(me.username ?? me.first_name)"
                )
            } catch {
                return TestResponse(ok: false, username: nil, telegram_id: nil, detail: "\(error)")
            }
        }

        registerWebhook(on: table, platform: platform)
    }

    static func registerWebhook(on table: RouteTable, platform: BotPlatform) {
        table.post(
            "/telegram/{bot_id}/webhook",
            OperationDoc(
                "Telegram's webhook delivery of one update (checked by X-Telegram-Bot-Api-Secret-Token): stored once, then handled by the process running the bot",
                tags: ["telegram bots"],
                auth: .none,
                parameters: [.header("X-Telegram-Bot-Api-Secret-Token", "the secret_token given to setWebhook")],
                responses: [.init(200, "Taken", schema: Schema.object([("ok", Schema.boolean)]))],
                errors: [401, 404]
            )
        ) { request, context in
            let id = try context.parameters.require("bot_id")
            guard let bot = try await platform.store.find(id: id), bot.mode == .webhook, bot.running else {
                throw AppError.notFound("no bot \(id) takes webhook updates here")
            }
            let given = request.headers[HTTPField.Name("X-Telegram-Bot-Api-Secret-Token")!] ?? ""
            guard ConstantTime.equal(given, bot.webhookSecret) else {
                throw AppError.unauthorized("X-Telegram-Bot-Api-Secret-Token does not match this bot's webhook")
            }
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: 1 << 20) } catch is NIOTooManyBytesError {
                throw AppError.tooLarge("a Telegram update is at most 1 MiB")
            }
            let update: Update
            do { update = try JSONDecoder().decode(Update.self, from: Data(buffer: body)) } catch {
                throw AppError.validation(field: "body", "not a Telegram Update: \(error.localizedDescription)")
            }
            // Stored, not handled here: the process holding the bot runs its inbox, so replies go
            // through one flood limiter and a chat's updates run in one place, also when a load
            // balancer spreads deliveries over processes (or this one does not run bots). Telegram
            // sends an update again until it gets a 2xx: a second delivery is only answered.
            if try await platform.updates.deliver(bot: bot.id, update) { platform.inboxBell(bot.id).signal() }
            return WebhookAnswer(ok: true)
        }
    }

    struct WebhookAnswer: ResponseEncodable {
        var ok: Bool
    }

    /// Studio and downloads bots act on everyone's data (the studio's people and payments, the
    /// fleet's disks) and make their `admin_ids` admins of it: only an admin may add or change one.
    static func requireAdminForShared(_ context: AppRequestContext) throws {
        guard context.principal?.role == .admin else {
            throw AppError.forbidden("studio and downloads bots act on shared data: adding or changing one needs the admin role")
        }
    }

    /// The bot if the caller may see it (404 otherwise) and, for changes, may write.
    static func find(_ store: BotStore, _ context: AppRequestContext, write: Bool) async throws -> BotRecord {
        let principal = write ? try context.requireWriter() : try context.require(.guest)
        let id = try context.parameters.require("id")
        return try OwnerScope(principal).require(try await store.find(id: id), owner: \.ownerID, notFound: "bot \(id) not found")
    }
}
