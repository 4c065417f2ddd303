import Accounts
import Core
import Foundation
import Hummingbird
import SQLKit
import Storage

/// What the gateway used, and the limits on it: `GET /admin/llm/usage` sums tokens per key, owner,
/// provider and model (admins see all; others their own), and `PUT /admin/llm/limits/{subject}`
/// (admins) sets requests a minute and tokens a month for an API key id or an account id.
package enum UsageRoutes {
    struct Line: Decodable, Encodable, Sendable {
        var owner_id: String
        var key_id: String?
        var provider_id: String
        var model: String
        var requests: Int64
        var prompt_tokens: Int64
        var completion_tokens: Int64
        var failed: Int64
    }

    struct UsageList: ResponseEncodable {
        var since: Date
        var items: [Line]
    }

    struct LimitInput: Decodable, BoundedInput {
        var requests_per_minute: Int?
        var monthly_tokens: Int64?
        func checkBounds() throws {}
    }

    struct LimitResponse: ResponseEncodable {
        var subject_id: String
        var requests_per_minute: Int?
        var monthly_tokens: Int64?

        enum CodingKeys: String, CodingKey { case subject_id, requests_per_minute, monthly_tokens }

        /// No limit is an explicit null, so the shape is the same either way.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(subject_id, forKey: .subject_id)
            try container.encode(requests_per_minute, forKey: .requests_per_minute)
            try container.encode(monthly_tokens, forKey: .monthly_tokens)
        }
    }

    package static func register(on table: RouteTable, gateway: ChatGateway, database: Database) {
        let tags = ["llm providers"]
        table.get(
            "/admin/llm/usage",
            OperationDoc(
                "Tokens used through /v1 since `days` ago (default 30) per owner, API key, provider and model (yours; an admin sees all)",
                tags: tags,
                auth: .role(.guest),
                parameters: [.query("days", Schema.integer(minimum: 1, maximum: 3660), "How far back (default 30)")],
                responses: [.init(200, "Usage", schema: Schema.object([("since", Schema.dateTime), ("items", Schema.array(Schema.object([])))]))]
            )
        ) { request, context in
            let principal = try context.require(.guest)
            let days = request.uri.queryParameters["days"].flatMap { Int($0) } ?? 30
            guard (1...3660).contains(days) else { throw AppError.validation(field: "days", "must be 1 to 3660") }
            try await gateway.usage.flush()
            let since = Timestamp.millis(Date()) - Int64(days) * 86_400_000
            var query: SQLQueryString = """
                SELECT owner_id, key_id, provider_id, model, COUNT(*) AS requests,
                    CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens,
                    CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed
                FROM llm_usage WHERE at >= \(bind: since)
                """
            if case .owner(let owner) = OwnerScope(principal) { query += " AND owner_id = \(bind: owner)" }
            query += " GROUP BY owner_id, key_id, provider_id, model ORDER BY owner_id, key_id, provider_id, model"
            return UsageList(since: Timestamp.date(since), items: try await database.sql.raw(query).all(decoding: Line.self))
        }

        table.put(
            "/admin/llm/limits/{subject}",
            OperationDoc(
                "Limit an API key (its id) or an account (its id): `requests_per_minute`, `monthly_tokens` (null: no limit); over either, /v1 answers 429",
                tags: tags,
                auth: .role(.admin),
                request: Schema.object([
                    ("requests_per_minute", Schema.nullable(Schema.integer(minimum: 1, maximum: 1_000_000))),
                    ("monthly_tokens", Schema.nullable(Schema.integer(minimum: 1))),
                ]),
                responses: [.init(200, "Set", schema: Schema.object([("subject_id", Schema.string)]))]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let subject = try context.parameters.require("subject")
            guard subject.count <= 64 else { throw AppError.validation(field: "subject", "an API key id or a user id") }
            let input = try await request.decodeJSON(LimitInput.self, context: context)
            if let perMinute = input.requests_per_minute, !(1...1_000_000).contains(perMinute) {
                throw AppError.validation(field: "requests_per_minute", "must be 1 to 1000000, or null for no limit")
            }
            if let tokens = input.monthly_tokens, tokens < 1 {
                throw AppError.validation(field: "monthly_tokens", "must be positive, or null for no limit")
            }
            let limit = UsageLimits.Limit(subject_id: subject, requests_per_minute: input.requests_per_minute, monthly_tokens: input.monthly_tokens)
            try await gateway.limits.set(limit)
            return LimitResponse(subject_id: subject, requests_per_minute: limit.requests_per_minute, monthly_tokens: limit.monthly_tokens)
        }

        table.get(
            "/admin/llm/limits/{subject}",
            OperationDoc(
                "The limits of an API key or an account (null: none); yours, or any for an admin",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Limits", schema: Schema.object([("subject_id", Schema.string)]))],
                errors: [404]
            )
        ) { _, context in
            let principal = try context.require(.guest)
            let subject = try context.parameters.require("subject")
            guard subject.count <= 64 else { throw AppError.validation(field: "subject", "an API key id or a user id") }
            // Another owner's key or account is 404, as every owned resource is.
            let own = subject == principal.userID
            let ownKey = try await APIKeyStore(database: database).find(id: subject, scope: .owner(principal.userID)) != nil
            guard principal.isAdmin || own || ownKey else { throw AppError.notFound("no limits of yours named \(subject)") }
            let limit = try await gateway.limits.find(subject: subject)
            return LimitResponse(subject_id: subject, requests_per_minute: limit?.requests_per_minute, monthly_tokens: limit?.monthly_tokens)
        }
    }
}
