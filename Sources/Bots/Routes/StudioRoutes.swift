import Billing
import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Seed 002's HTTP API for its web front-end (`GET /`, `POST /api/train`, `GET /api/user/{user_id}`;
/// `/health` is the server's, `/api/models` the hub's with the people's trained models added), YooMoney's payment notifications, and
/// the admin's token packages. People of the studio are Telegram users, not accounts here, so the
/// front-end calls with an admin or `web` account's credentials.
package enum StudioRoutes {
    struct Root: ResponseEncodable {
        var status: String
        var service: String
        var docs: String
    }

    struct UserResponse: ResponseEncodable {
        var user_id: Int64
        var username: String?
        var first_name: String?
        var last_name: String?
        var activation_date: Date
        var tokens_left: Int64
        var tokens_spent: Int64
        var tokens_reserved: Int64
        var language_code: String?
        var referral_code: String
        var referred_by: Int64?
        var is_blocked: Bool
        var generations: Int
        var models: [ModelResponse]
        var referrals: Int
    }

    struct ModelResponse: ResponseEncodable {
        var model_id: Int64
        var user_id: Int64?
        var name: String
        var trigger_word: String
        var status: String
        var created_at: Date

        init(_ model: StudioModel) {
            model_id = model.model_id
            user_id = model.user_id
            name = model.name
            trigger_word = model.trigger_word
            status = model.status
            created_at = Timestamp.date(model.created_at)
        }
    }

    struct TrainInput: Decodable, BoundedInput {
        var user_id: Int64?
        var name: String?

        func checkBounds() throws { try Bounded.text(name, field: "name", max: 100) }
    }

    struct TrainResponse: ResponseEncodable {
        var model_id: Int64
        var status: String
        var detail: String
    }

    struct YooMoneyAnswer: ResponseEncodable {
        var ok: Bool
        var detail: String
    }

    struct PackageList: ResponseEncodable {
        var items: [PackageBody]
    }

    struct PackageBody: ResponseEncodable, Decodable, BoundedInput {
        var id: String?
        var title: String?
        var tokens: Int64?
        var price_stars: Int64?
        var price_kopecks: Int64?
        var active: Bool?
        var position: Int?

        init(_ package: StudioPackage) {
            id = package.id
            title = package.title
            tokens = package.tokens
            price_stars = package.price_stars
            price_kopecks = package.price_kopecks
            active = package.active != 0
            position = package.position
        }

        func checkBounds() throws {
            try Bounded.text(id, field: "id", max: 32)
            try Bounded.text(title, field: "title", max: 100)
        }
    }

    static let userSchema = Schema.object([
        ("user_id", Schema.integer), ("username", Schema.nullable(Schema.string)), ("first_name", Schema.nullable(Schema.string)),
        ("last_name", Schema.nullable(Schema.string)), ("activation_date", Schema.dateTime), ("tokens_left", Schema.integer),
        ("tokens_spent", Schema.integer), ("tokens_reserved", Schema.integer), ("language_code", Schema.nullable(Schema.string)),
        ("referral_code", Schema.string), ("referred_by", Schema.nullable(Schema.integer)), ("is_blocked", Schema.boolean),
        ("generations", Schema.integer), ("models", Schema.array(Schema.ref("StudioModel"))), ("referrals", Schema.integer),
    ])

    static let modelSchema = Schema.object([
        ("model_id", Schema.integer), ("user_id", Schema.nullable(Schema.integer)), ("name", Schema.string), ("trigger_word", Schema.string),
        ("status", Schema.string(enum: ["training", "ready", "error"])), ("created_at", Schema.dateTime),
    ])

    static let packageSchema = Schema.object([
        ("id", Schema.string(maxLength: 32)), ("title", Schema.string(maxLength: 100)), ("tokens", Schema.integer(minimum: 1, maximum: 1_000_000)),
        ("price_stars", Schema.integer(minimum: 1, maximum: 1_000_000)), ("price_kopecks", Schema.integer(minimum: 0, maximum: 100_000_000)),
        ("active", Schema.boolean), ("position", Schema.integer(minimum: 0, maximum: 10_000)),
    ])

    package static func register(on table: RouteTable, studio: StudioBot, platform: BotPlatform, yooMoneySecret: Secret?) {
        let tags = ["studio (seed 002)"]
        table.schema("StudioModel", modelSchema)
        table.schema("StudioUser", userSchema)
        table.schema("StudioPackage", packageSchema)

        table.get(
            "/",
            OperationDoc(
                "Seed 002's check that the API answers",
                tags: tags + ["compat"],
                auth: .none,
                responses: [
                    .init(200, "Up", schema: Schema.object([("status", Schema.string), ("service", Schema.string), ("docs", Schema.string)]))
                ]
            )
        ) { _, _ in
            Root(status: "ok", service: "atelier", docs: "/docs")
        }

        table.get(
            "/api/user/{user_id}",
            OperationDoc(
                "A person of the studio bot by Telegram id: seed 002's User columns, balance, models, generations",
                tags: tags + ["compat"],
                auth: .role(.web),
                responses: [.init(200, "User", schema: Schema.ref("StudioUser"))]
            )
        ) { _, context in
            _ = try requireFrontEnd(context)
            let raw = try context.parameters.require("user_id")
            guard let id = Int64(raw) else { throw AppError.validation(field: "user_id", "must be a Telegram user id (a number)") }
            guard let user = try await studio.users.find(id) else { throw AppError.notFound("no user \(id) in the studio") }
            let balance = try await studio.ledger.balance(user.account)
            let history = try await studio.generations.history(user: id, offset: 0, limit: 1)
            return UserResponse(
                user_id: user.user_id,
                username: user.username,
                first_name: user.first_name,
                last_name: user.last_name,
                activation_date: Timestamp.date(user.activation_date),
                tokens_left: balance.available,
                tokens_spent: balance.spent,
                tokens_reserved: balance.reserved,
                language_code: user.language_code,
                referral_code: user.referral_code,
                referred_by: user.referred_by,
                is_blocked: user.blocked,
                generations: history.total,
                models: try await studio.models.of(user: id).map(ModelResponse.init),
                referrals: try await studio.users.referralFigures(id).invited
            )
        }

        table.post(
            "/api/train",
            OperationDoc(
                "Start a LoRA training for a person from the photos they sent the bot (/train); the bot tells them when it is ready",
                tags: tags + ["compat"],
                auth: .role(.web),
                request: Schema.object([("user_id", Schema.integer), ("name", Schema.string(maxLength: 100))], required: ["user_id"]),
                responses: [
                    .init(
                        202,
                        "Started",
                        schema: Schema.object([("model_id", Schema.integer), ("status", Schema.string), ("detail", Schema.string)])
                    )
                ],
                errors: [402, 409, 503]
            )
        ) { request, context in
            _ = try requireFrontEnd(context)
            let body = try await request.decodeJSON(TrainInput.self, context: context)
            guard let id = body.user_id else { throw AppError.validation(field: "user_id", "field required") }
            guard let user = try await studio.users.find(id) else { throw AppError.notFound("no user \(id) in the studio") }
            let bot = try await studioBot(platform)
            let model = try await studio.startTraining(user: user, name: body.name, bot)
            return JSONResponse(.accepted, TrainResponse(model_id: model.model_id, status: model.status, detail: "training started"))
        }

        table.post(
            "/webhooks/yoomoney",
            OperationDoc(
                "YooMoney's HTTP notification of a payment (form fields, checked by sha1_hash with ATELIER_YOOMONEY_SECRET); credits the order in `label` once per operation_id",
                tags: tags + ["payments"],
                auth: .none,
                responses: [.init(200, "Taken", schema: Schema.object([("ok", Schema.boolean), ("detail", Schema.string)]))],
                errors: [401, 503]
            )
        ) { request, context in
            guard let secret = yooMoneySecret else {
                throw AppError.unavailable("YooMoney notifications are not configured: set ATELIER_YOOMONEY_SECRET")
            }
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: 64 << 10) } catch is NIOTooManyBytesError {
                throw AppError.tooLarge("a YooMoney notification is at most 64 KiB")
            }
            let notification: YooMoneyNotification
            do {
                notification = try YooMoneyNotification(form: FormBody.parse(String(buffer: body)), secret: secret)
            } catch let problem as YooMoneyNotification.Problem {
                switch problem {
                case .badSignature: throw AppError.unauthorized(problem.description)
                // Not money yet: answered 200 so YooMoney does not repeat it; a later one credits.
                case .notSettled: return YooMoneyAnswer(ok: true, detail: problem.description)
                default: throw AppError.validation(field: "form", problem.description)
                }
            }
            if notification.test { return YooMoneyAnswer(ok: true, detail: "test notification: nothing credited") }
            var bot: BotContext?
            if let order = try await studio.payments.order(notification.label), let record = try await platform.store.find(id: order.bot_id) {
                bot = try? platform.context(record)
            }
            return YooMoneyAnswer(ok: true, detail: try await studio.creditYooMoney(notification, bot: bot))
        }

        registerPackages(on: table, studio: studio)

        table.get(
            "/admin/studio/stats",
            OperationDoc(
                "The studio's business figures: people, active people (last day, last week), images, revenue per day and currency (?days=, default 30)",
                tags: tags,
                auth: .role(.admin),
                parameters: [.query("days", Schema.integer(minimum: 1, maximum: 366), "how many days of revenue")],
                responses: [
                    .init(
                        200,
                        "Figures",
                        schema: Schema.object([
                            ("users", Schema.integer), ("active_users_day", Schema.integer), ("active_users_week", Schema.integer),
                            (
                                "generations",
                                Schema.object([
                                    ("total", Schema.integer), ("succeeded", Schema.integer), ("failed", Schema.integer), ("today", Schema.integer),
                                ])
                            ),
                            (
                                "revenue",
                                Schema.array(
                                    Schema.object([
                                        ("day", Schema.string), ("currency", Schema.string), ("amount", Schema.integer), ("payments", Schema.integer),
                                    ])
                                )
                            ),
                        ])
                    )
                ]
            )
        ) { request, context in
            _ = try context.require(.admin)
            var days = 30
            if let raw = request.uri.queryParameters.get("days") {
                guard let value = Int(raw), (1...366).contains(value) else {
                    throw AppError.validation(field: "days", "must be a whole number from 1 to 366")
                }
                days = value
            }
            return StatsResponse(stats: try await studio.stats(days: days))
        }
    }

    struct StatsResponse: ResponseEncodable {
        var stats: StudioStats
        func encode(to encoder: any Encoder) throws { try stats.encode(to: encoder) }
    }

    static func registerPackages(on table: RouteTable, studio: StudioBot) {
        let tags = ["studio (seed 002)"]
        table.get(
            "/admin/studio/packages",
            OperationDoc(
                "Token packages /buy offers (including inactive ones)",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(200, "Packages", schema: Schema.object([("items", Schema.array(Schema.ref("StudioPackage")))]))]
            )
        ) { _, context in
            _ = try context.require(.admin)
            return PackageList(items: try await studio.payments.packages(activeOnly: false).map(PackageBody.init))
        }

        table.put(
            "/admin/studio/packages/{id}",
            OperationDoc(
                "Add or change a package (tokens, price in stars and in kopecks, active, position)",
                tags: tags,
                auth: .role(.admin),
                request: packageSchema,
                responses: [.init(200, "Saved", schema: Schema.ref("StudioPackage"))]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let id = try context.parameters.require("id")
            guard (1...32).contains(id.count), id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), id.allSatisfy(\.isASCII)
            else {
                throw AppError.validation(field: "id", "1 to 32 letters, digits, '-' or '_'")
            }
            let body = try await request.decodeJSON(PackageBody.self, context: context)
            let existing = try await studio.payments.findPackage(id)
            guard let tokens = body.tokens ?? existing?.tokens, (1...1_000_000).contains(tokens) else {
                throw AppError.validation(field: "tokens", "required, from 1 to 1000000")
            }
            guard let stars = body.price_stars ?? existing?.price_stars, (1...1_000_000).contains(stars) else {
                throw AppError.validation(field: "price_stars", "required, from 1 to 1000000")
            }
            let kopecks = body.price_kopecks ?? existing?.price_kopecks ?? 0
            guard (0...100_000_000).contains(kopecks) else { throw AppError.validation(field: "price_kopecks", "from 0 to 100000000") }
            let package = StudioPackage(
                id: id,
                title: body.title ?? existing?.title ?? "\(tokens)",
                tokens: tokens,
                price_stars: stars,
                price_kopecks: kopecks,
                active: (body.active ?? (existing.map { $0.active != 0 } ?? true)) ? 1 : 0,
                position: body.position ?? existing?.position ?? 100
            )
            try await studio.payments.save(package)
            return PackageBody(package)
        }

        table.delete(
            "/admin/studio/packages/{id}",
            OperationDoc(
                "Remove a package (invoices already sent are still honoured)",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(204, "Removed")]
            )
        ) { _, context in
            _ = try context.require(.admin)
            let id = try context.parameters.require("id")
            guard try await studio.payments.deletePackage(id) else { throw AppError.notFound("no package \(id)") }
            return Response(status: .noContent)
        }
    }

    /// The front-end's account (`web`) or an admin.
    static func requireFrontEnd(_ context: AppRequestContext) throws -> Principal {
        try context.require(oneOf: [.admin, .web], "the studio API is for the web front-end's account (role web) or an admin")
    }

    /// A running studio bot to tell people through (the first one).
    static func studioBot(_ platform: BotPlatform) async throws -> BotContext {
        guard let record = try await platform.store.list(scope: .all).first(where: { $0.kind == .studio && $0.running }) else {
            throw AppError.unavailable("no studio bot is running: add one at /admin/telegram/bots and start it")
        }
        return try platform.context(record)
    }
}
