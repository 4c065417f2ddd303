import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The shared secrets of the services that post webhooks here; nil leaves a service's route
/// answering 503 with the setting to add.
package struct IncomingWebhookSecrets: Sendable {
    /// `ATELIER_GITHUB_WEBHOOK_SECRET`: the "Secret" of the webhook in GitHub's settings.
    package var github: Secret?
    /// `ATELIER_AMOCRM_WEBHOOK_SECRET`: the `token` in the webhook URL given to amoCRM.
    package var amocrm: Secret?

    package init(github: Secret? = nil, amocrm: Secret? = nil) {
        self.github = github
        self.amocrm = amocrm
    }
}

/// `POST /webhooks/github` and `POST /webhooks/amocrm`: deliveries from those services, checked
/// (GitHub's signature, amoCRM's URL token) before anything is recorded, recorded once per
/// delivery id and told to the admins through `announce`; and `GET /admin/webhooks/deliveries`
/// to see what came in.
package enum IncomingWebhookRoutes {
    struct Answer: ResponseEncodable {
        /// `ok` when something new was recorded, `duplicate` when all of it was seen before.
        var status: String
        /// The event, or the events of an amoCRM post joined by commas.
        var event: String
        var recorded: Int
    }

    struct DeliveryList: ResponseEncodable {
        var items: [DeliveryBody]
    }

    struct DeliveryBody: ResponseEncodable {
        var service: String
        var delivery_id: String
        var event: String
        var summary: String
        var payload: String
        var received_at: Date

        init(_ delivery: IncomingWebhookStore.Delivery) {
            service = delivery.service
            delivery_id = delivery.delivery_id
            event = delivery.event
            summary = delivery.summary
            payload = delivery.payload
            received_at = Timestamp.date(delivery.received_at)
        }
    }

    static let services = ["github", "amocrm"]

    static var tokenParameter: OperationDoc.Parameter {
        var token = OperationDoc.Parameter.query("token", Schema.string, "the value of ATELIER_AMOCRM_WEBHOOK_SECRET")
        token.required = true
        return token
    }

    static let answerSchema = Schema.object(
        [("status", Schema.string(enum: ["ok", "duplicate"])), ("event", Schema.string), ("recorded", Schema.integer)],
        required: ["status", "event", "recorded"]
    )

    static let deliverySchema = Schema.object(
        [
            ("service", Schema.string(enum: services)), ("delivery_id", Schema.string), ("event", Schema.string), ("summary", Schema.string),
            ("payload", Schema.string(description: "the delivery's JSON as text")), ("received_at", Schema.dateTime),
        ],
        required: ["service", "delivery_id", "event", "summary", "payload", "received_at"]
    )

    package static func register(
        on table: RouteTable,
        store: IncomingWebhookStore,
        secrets: IncomingWebhookSecrets,
        announce: @escaping @Sendable (String) async -> Void
    ) {
        table.schema("IncomingWebhookDelivery", deliverySchema)
        registerGitHub(on: table, store: store, secret: secrets.github, announce: announce)
        registerAmoCRM(on: table, store: store, secret: secrets.amocrm, announce: announce)

        table.get(
            "/admin/webhooks/deliveries",
            OperationDoc(
                "Webhook deliveries received from GitHub and amoCRM, newest first (?service=, ?limit= up to 200, default 50)",
                tags: ["webhooks"],
                auth: .role(.admin),
                parameters: [
                    .query("service", Schema.string(enum: services), "only this service's deliveries"),
                    .query("limit", Schema.integer(minimum: 1, maximum: 200), "how many (default 50)"),
                ],
                responses: [
                    .init(
                        200,
                        "Deliveries",
                        schema: Schema.object([("items", Schema.array(Schema.ref("IncomingWebhookDelivery")))], required: ["items"])
                    )
                ]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let service = request.uri.queryParameters.get("service")
            if let service, !services.contains(service) {
                throw AppError.validation(field: "service", "must be one of \(services.joined(separator: ", "))")
            }
            var limit = 50
            if let raw = request.uri.queryParameters.get("limit") {
                guard let value = Int(raw), (1...200).contains(value) else {
                    throw AppError.validation(field: "limit", "must be a whole number from 1 to 200")
                }
                limit = value
            }
            return DeliveryList(items: try await store.list(service: service, limit: limit).map(DeliveryBody.init))
        }
    }

    static func registerGitHub(
        on table: RouteTable,
        store: IncomingWebhookStore,
        secret: Secret?,
        announce: @escaping @Sendable (String) async -> Void
    ) {
        table.post(
            "/webhooks/github",
            OperationDoc(
                "A GitHub webhook delivery (JSON or payload= form), signed in X-Hub-Signature-256 with ATELIER_GITHUB_WEBHOOK_SECRET; "
                    + "recorded once per X-GitHub-Delivery and told to the admins",
                tags: ["webhooks"],
                auth: .none,
                parameters: [
                    .header(GitHubWebhook.signatureHeader, "sha256=<hex HMAC-SHA256 of the body with the webhook's secret>", required: true),
                    .header(GitHubWebhook.eventHeader, "the event: push, pull_request, ping, …", required: true),
                    .header(GitHubWebhook.deliveryHeader, "the delivery's GUID, the same on a redelivery", required: true),
                ],
                responses: [.init(200, "Recorded, or seen before", schema: answerSchema)],
                errors: [401, 413, 422, 503]
            )
        ) { request, context in
            guard let secret, !secret.isEmpty else {
                throw AppError.unavailable(
                    "GitHub webhooks are not configured: set ATELIER_GITHUB_WEBHOOK_SECRET to the secret given to the webhook in GitHub"
                )
            }
            let body = try await collect(request, context: context)
            func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { request.headers[$0] } }
            let delivery = try GitHubWebhook(
                body: Data(buffer: body),
                contentType: request.headers[.contentType],
                event: header(GitHubWebhook.eventHeader),
                deliveryID: header(GitHubWebhook.deliveryHeader),
                signature: header(GitHubWebhook.signatureHeader),
                secret: secret
            )
            let new = try await store.record(
                service: "github",
                deliveryID: delivery.deliveryID,
                event: delivery.event,
                summary: delivery.summary,
                payload: delivery.payload,
                now: Timestamp.millis(Date())
            )
            guard new else { return Answer(status: "duplicate", event: delivery.event, recorded: 0) }
            tell(delivery.summary, through: announce)
            return Answer(status: "ok", event: delivery.event, recorded: 1)
        }
    }

    static func registerAmoCRM(
        on table: RouteTable,
        store: IncomingWebhookStore,
        secret: Secret?,
        announce: @escaping @Sendable (String) async -> Void
    ) {
        table.post(
            "/webhooks/amocrm",
            OperationDoc(
                "An amoCRM webhook (form fields like leads[add][0][id]); amoCRM does not sign them, so the URL carries "
                    + "?token=<ATELIER_AMOCRM_WEBHOOK_SECRET>. Each event is recorded once; lead and contact events are told to the admins",
                tags: ["webhooks"],
                auth: .none,
                parameters: [tokenParameter],
                responses: [.init(200, "Recorded, or seen before", schema: answerSchema)],
                errors: [401, 413, 422, 503]
            )
        ) { request, context in
            guard let secret, !secret.isEmpty else {
                throw AppError.unavailable(
                    "amoCRM webhooks are not configured: set ATELIER_AMOCRM_WEBHOOK_SECRET and give amoCRM the URL "
                        + "…/webhooks/amocrm?token=<that value>"
                )
            }
            try AmoCRMWebhook.verify(token: request.uri.queryParameters.get("token"), secret: secret)
            let body = try await collect(request, context: context)
            let hook = try AmoCRMWebhook(form: FormBody.parse(String(buffer: body)))
            let now = Timestamp.millis(Date())
            var recorded = 0
            var news: [String] = []
            for event in hook.events {
                let new = try await store.record(
                    service: "amocrm",
                    deliveryID: event.deliveryID,
                    event: event.name,
                    summary: event.summary,
                    payload: event.payload,
                    now: now
                )
                guard new else { continue }
                recorded += 1
                if event.announced { news.append(event.summary) }
            }
            if !news.isEmpty { tell(news.joined(separator: "\n"), through: announce) }
            var names: [String] = []
            for event in hook.events where !names.contains(event.name) { names.append(event.name) }
            return Answer(status: recorded > 0 ? "ok" : "duplicate", event: names.joined(separator: ","), recorded: recorded)
        }
    }

    /// The body within the context's limit (GitHub posts up to 25 MB; more than the limit is 413).
    static func collect(_ request: Request, context: AppRequestContext) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw AppError.tooLarge("a webhook body is at most \(context.maxUploadSize) bytes here")
        }
    }

    /// Tells the admins without keeping the sender waiting on Telegram: senders retry deliveries
    /// that take long, and the record is already made.
    static func tell(_ text: String, through announce: @escaping @Sendable (String) async -> Void) {
        Task { await announce(text) }
    }
}
