import Core
import Crypto
import Foundation

/// One GitHub webhook delivery (docs.github.com, "Webhook events and payloads" and "Validating
/// webhook deliveries"): the event in `X-GitHub-Event`, a GUID in `X-GitHub-Delivery` that a
/// redelivery keeps (so it de-duplicates), and `X-Hub-Signature-256: sha256=<hex>`, the
/// HMAC-SHA256 of the raw body with the webhook's secret. The body is JSON, or `payload=<JSON>`
/// form-encoded when the hook's content type is `application/x-www-form-urlencoded`; the
/// signature covers the body as sent either way. It carries no timestamp, so a captured delivery
/// replays with a valid signature: the delivery id is what keeps it from counting twice.
package struct GitHubWebhook: Sendable {
    package static let eventHeader = "X-GitHub-Event"
    package static let deliveryHeader = "X-GitHub-Delivery"
    package static let signatureHeader = "X-Hub-Signature-256"

    /// `push`, `pull_request`, `ping`, …
    package var event: String
    package var deliveryID: String
    /// One line for people: "GitHub: octo/site: alice pushed 2 commits to main".
    package var summary: String
    /// The payload's JSON text as GitHub sent it.
    package var payload: String

    /// Verifies the signature first (nothing of an unsigned body is read), then reads the delivery.
    /// A bad or missing signature is 401; a signed delivery without its id or event is 422.
    package init(body: Data, contentType: String?, event: String?, deliveryID: String?, signature: String?, secret: Secret) throws {
        try Self.verify(body: body, signature: signature, secret: secret)
        guard let deliveryID = deliveryID?.trimmingWhitespace, !deliveryID.isEmpty else {
            throw AppError.validation(field: Self.deliveryHeader, "missing: GitHub sends each delivery's GUID in this header")
        }
        guard deliveryID.count <= 200, !deliveryID.containsControlCharacters else {
            throw AppError.validation(field: Self.deliveryHeader, "is not a delivery GUID (at most 200 characters, no control characters)")
        }
        guard let event = event?.trimmingWhitespace, !event.isEmpty, event.count <= 100, !event.containsControlCharacters else {
            throw AppError.validation(field: Self.eventHeader, "missing or not an event name: GitHub names the event (push, ping, …) here")
        }
        let json = try Self.payloadText(body: body, contentType: contentType)
        guard let data = json.data(using: .utf8), (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            throw AppError.validation(field: "payload", "a GitHub delivery's payload is a JSON object")
        }
        self.event = event
        self.deliveryID = deliveryID
        self.payload = json
        self.summary = Self.summary(event: event, payload: (try? JSONDecoder().decode(Payload.self, from: data)) ?? Payload())
    }

    /// Throws 401 with what is wrong unless `signature` is `sha256=` and the hex HMAC-SHA256 of
    /// `body` with `secret`, compared in constant time.
    package static func verify(body: Data, signature: String?, secret: Secret) throws {
        guard let signature = signature?.trimmingWhitespace, !signature.isEmpty else {
            throw AppError.unauthorized(
                "missing \(signatureHeader): give the webhook a secret in GitHub's settings, the same as ATELIER_GITHUB_WEBHOOK_SECRET"
            )
        }
        guard signature.hasPrefix("sha256="), signature.utf8.count == 71 else {
            throw AppError.unauthorized("\(signatureHeader) is not sha256=<64 hex digits>")
        }
        let given = signature.dropFirst(7).lowercased()
        guard ConstantTime.equal(given, sign(body: body, secret: secret)) else {
            throw AppError.unauthorized(
                "\(signatureHeader) does not match the body: the webhook's secret in GitHub differs from ATELIER_GITHUB_WEBHOOK_SECRET, "
                    + "or the body was changed on the way"
            )
        }
    }

    /// The hex HMAC-SHA256 GitHub sends after `sha256=`.
    package static func sign(body: Data, secret: Secret) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.value.utf8))))
    }

    /// The JSON: the body itself, or its `payload` field when GitHub posted a form.
    static func payloadText(body: Data, contentType: String?) throws -> String {
        guard let text = String(data: body, encoding: .utf8) else {
            throw AppError.validation(field: "body", "a GitHub delivery is UTF-8 text")
        }
        guard contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else { return text }
        guard let payload = FormBody.parse(text)["payload"], !payload.isEmpty else {
            throw AppError.validation(field: "payload", "a form-encoded GitHub delivery carries its JSON in the payload field")
        }
        guard !payload.unicodeScalars.contains("\0") else {
            throw AppError.validation(field: "payload", "holds a NUL character, which no GitHub payload does")
        }
        return payload
    }

    static func summary(event: String, payload: Payload) -> String {
        let place = payload.repository?.full_name ?? payload.organization?.login ?? payload.sender?.login ?? "(no repository)"
        let who = payload.sender?.login
        func text(_ value: String?, max: Int = 120) -> String { IncomingWebhookStore.oneLine(value ?? "", max: max) }
        var line: String
        switch event {
        case "ping":
            line = "ping from \(place)" + (payload.hook_id.map { " (hook \($0))" } ?? "")
            if let zen = payload.zen { line += ": \(text(zen))" }
        case "push":
            var target = payload.ref ?? "?"
            if target.hasPrefix("refs/heads/") {
                target = String(target.dropFirst(11))
            } else if target.hasPrefix("refs/tags/") {
                target = "tag " + String(target.dropFirst(10))
            }
            let pusher = payload.pusher?.name ?? who ?? "someone"
            if payload.deleted == true {
                line = "\(place): \(text(pusher)) deleted \(text(target))"
            } else {
                let count = payload.commits?.count ?? 0
                line = "\(place): \(text(pusher)) pushed \(count) commit\(count == 1 ? "" : "s") to \(text(target))"
                if payload.forced == true { line += " (forced)" }
            }
        case "pull_request":
            let pull = payload.pull_request
            var action = payload.action ?? "changed"
            if action == "closed", pull?.merged == true { action = "merged" }
            let number = (payload.number ?? pull?.number).map { " #\($0)" } ?? ""
            line = "\(place): pull request\(number) \(text(action))"
            if let title = pull?.title { line += ": '\(text(title))'" }
            if let who { line += " by \(text(who))" }
        case "workflow_run", "check_suite":
            let run = event == "workflow_run" ? payload.workflow_run : payload.check_suite
            let kind = event == "workflow_run" ? "workflow" : "check suite"
            let name = run?.name ?? run?.app?.name ?? payload.workflow?.name
            line = "\(place): \(kind)" + (name.map { " '\(text($0))'" } ?? "")
            if let branch = run?.head_branch { line += " on \(text(branch))" }
            line += " \(text(payload.action ?? run?.status ?? "updated"))"
            if let conclusion = run?.conclusion { line += ": \(text(conclusion))" }
        default:
            line = "\(event)" + (payload.action.map { " \(text($0))" } ?? "") + " in \(place)"
            if let who { line += " by \(text(who))" }
        }
        return "GitHub: " + IncomingWebhookStore.oneLine(line, max: 300)
    }

    /// The few fields summaries use; everything else stays in the stored payload. Each is read on
    /// its own and left nil when absent or of another type, so one odd field costs only itself.
    struct Payload: Decodable {
        struct Named: Decodable {
            var name: String?
        }
        struct Account: Decodable {
            var login: String?
        }
        struct Repository: Decodable {
            var full_name: String?
        }
        struct Commit: Decodable {}
        struct PullRequest: Decodable {
            var number: Int?
            var title: String?
            var merged: Bool?
        }
        struct Run: Decodable {
            var name: String?
            var status: String?
            var conclusion: String?
            var head_branch: String?
            var app: Named?
        }

        var action: String?
        var repository: Repository?
        var organization: Account?
        var sender: Account?
        var zen: String?
        var hook_id: Int?
        var ref: String?
        var deleted: Bool?
        var forced: Bool?
        var commits: [Commit]?
        var pusher: Named?
        var number: Int?
        var pull_request: PullRequest?
        var workflow_run: Run?
        var workflow: Named?
        var check_suite: Run?

        enum Key: String, CodingKey {
            case action, repository, organization, sender, zen, hook_id, ref, deleted, forced, commits, pusher, number
            case pull_request, workflow_run, workflow, check_suite
        }

        init() {}

        init(from decoder: any Decoder) throws {
            let fields = try decoder.container(keyedBy: Key.self)
            func field<T: Decodable>(_ key: Key) -> T? { (try? fields.decodeIfPresent(T.self, forKey: key)) ?? nil }
            action = field(.action)
            repository = field(.repository)
            organization = field(.organization)
            sender = field(.sender)
            zen = field(.zen)
            hook_id = field(.hook_id)
            ref = field(.ref)
            deleted = field(.deleted)
            forced = field(.forced)
            commits = field(.commits)
            pusher = field(.pusher)
            number = field(.number)
            pull_request = field(.pull_request)
            workflow_run = field(.workflow_run)
            workflow = field(.workflow)
            check_suite = field(.check_suite)
        }
    }
}
