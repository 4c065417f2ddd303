import Core
import Crypto
import Foundation

/// amoCRM's webhooks (amocrm.ru/developers/content/crm_platform/webhooks-format): a POST of
/// `application/x-www-form-urlencoded` fields shaped `entity[action][index][field]`, such as
/// `leads[add][0][id]=…&leads[add][0][name]=…&leads[status][0][status_id]=…&contacts[add][0][id]=…`,
/// with `account[id]` and `account[subdomain]`. One post can carry several events; each becomes
/// a row of its own.
///
/// amoCRM does not sign these webhooks (only its Chats API hooks carry `X-Signature`, an HMAC-SHA1
/// with the chat channel's secret), and their settings take nothing but a URL. So the route is
/// guarded by a token the operator puts in that URL,
/// `https://…/webhooks/amocrm?token=<ATELIER_AMOCRM_WEBHOOK_SECRET>`, compared in constant time.
/// Only over HTTPS does the token stay secret.
///
/// amoCRM sends a hook again when it does not get a 2xx in time, so each event's delivery id is
/// `amocrm:<account id>:<entity>.<action>:<item id>:<version>`, where the version is the item's
/// `last_modified` (else `updated_at`, else `date_modify`), with the new `status_id` added for a
/// status change and the new `responsible_user_id` for a change of responsible. An item without
/// any of these times (a delete carries only ids) gets a digest of all its fields instead. A repeat
/// of the same post therefore maps to the same ids; two changes of one item within the same second
/// that leave the same status and responsible count as one.
package struct AmoCRMWebhook: Sendable {
    /// One `entity[action][index]` group of fields.
    package struct Event: Sendable, Equatable {
        /// `leads`, `contacts`, `companies`, `customers`, `tasks`, …, as amoCRM names them.
        package var entity: String
        /// `add`, `update`, `status`, `delete`, `responsible`, `restore`, `note`, …
        package var action: String
        package var index: Int
        /// The item's fields by name; nested ones keep their brackets (`custom_fields[0][name]`).
        package var fields: [String: String]
        package var deliveryID: String
        /// One line for people: "amoCRM: lead #123 'Website order' added (price 5000)".
        package var summary: String
        /// Lead and contact events are told to the admins; the rest are only recorded.
        package var announced: Bool
        /// The event as JSON, for the record.
        package var payload: String

        /// `leads.add`, `contacts.update`, …
        package var name: String { "\(entity).\(action)" }
    }

    package var accountID: String?
    package var subdomain: String?
    /// In entity, action, index order.
    package var events: [Event]

    /// A post carries a few events; this bounds the rows one request can write.
    package static let maxEvents = 500

    /// Reads a parsed form body (`FormBody.parse`). 422 when it holds no event or too many.
    package init(form: [String: String]) throws {
        accountID = form["account[id]"].map { IncomingWebhookStore.oneLine($0, max: 40) }
        subdomain = form["account[subdomain]"].map { IncomingWebhookStore.oneLine($0, max: 100) }
        var groups: [GroupKey: [String: String]] = [:]
        for (key, value) in form {
            guard let parts = Self.split(key), parts.count >= 4, parts[0] != "account",
                Self.isName(parts[0]), Self.isName(parts[1]), let index = Int(parts[2]), (0..<10_000).contains(index)
            else { continue }
            let field = parts[3] + parts.dropFirst(4).map { "[\($0)]" }.joined()
            groups[GroupKey(entity: parts[0], action: parts[1], index: index), default: [:]][field] = value
        }
        guard !groups.isEmpty else {
            throw AppError.validation(field: "form", "no amoCRM events in it: amoCRM posts fields like leads[add][0][id]=…")
        }
        guard groups.count <= Self.maxEvents else {
            throw AppError.validation(field: "form", "\(groups.count) events in one post; at most \(Self.maxEvents) are taken")
        }
        let account = Account(id: accountID, subdomain: subdomain)
        events = try groups.keys.sorted().map { key in
            let fields = groups[key] ?? [:]
            let entity = key.entity
            return Event(
                entity: entity,
                action: key.action,
                index: key.index,
                fields: fields,
                deliveryID: Self.deliveryID(account: account, entity: entity, action: key.action, fields: fields),
                summary: Self.summary(entity: entity, action: key.action, fields: fields),
                announced: entity == "leads" || (entity == "contacts" && fields["type"] != "company"),
                payload: try Self.encode(Stored(account: account, entity: entity, action: key.action, fields: fields))
            )
        }
    }

    /// Throws 401 unless `token` (the URL's `token` query parameter) is the configured secret.
    package static func verify(token: String?, secret: Secret) throws {
        guard let token, !token.isEmpty else {
            throw AppError.unauthorized(
                "missing ?token=: set the webhook URL in amoCRM to …/webhooks/amocrm?token=<the value of ATELIER_AMOCRM_WEBHOOK_SECRET>"
            )
        }
        // Digests first, so the comparison takes the same time whatever the length of the guess.
        guard ConstantTime.equal(digest(token), digest(secret.value)) else {
            throw AppError.unauthorized("the token in the webhook URL is not the value of ATELIER_AMOCRM_WEBHOOK_SECRET")
        }
    }

    struct GroupKey: Hashable, Comparable {
        var entity: String
        var action: String
        var index: Int

        static func < (lhs: GroupKey, rhs: GroupKey) -> Bool {
            (lhs.entity, lhs.action, lhs.index) < (rhs.entity, rhs.action, rhs.index)
        }
    }

    struct Account: Encodable {
        var id: String?
        var subdomain: String?
    }

    struct Stored: Encodable {
        var account: Account
        var entity: String
        var action: String
        var fields: [String: String]
    }

    /// `leads[add][0][custom_fields][0][name]` → `leads`, `add`, `0`, `custom_fields`, `0`, `name`;
    /// nil for a name not in that shape.
    static func split(_ key: String) -> [String]? {
        guard let open = key.firstIndex(of: "["), open != key.startIndex else { return nil }
        var parts = [String(key[..<open])]
        var rest = key[open...]
        while !rest.isEmpty {
            guard rest.first == "[", let close = rest.firstIndex(of: "]") else { return nil }
            parts.append(String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return parts
    }

    /// Entity and action names are short lowercase words; anything else is not amoCRM's.
    static func isName(_ text: String) -> Bool {
        (1...40).contains(text.utf8.count) && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }

    static func deliveryID(account: Account, entity: String, action: String, fields: [String: String]) -> String {
        let accountPart = account.id ?? account.subdomain ?? "-"
        let item = IncomingWebhookStore.oneLine(fields["id"] ?? fields["note[id]"] ?? "-", max: 40)
        var version = fields["last_modified"] ?? fields["updated_at"] ?? fields["date_modify"] ?? fields["note[last_modified]"]
        if version != nil, action == "status" { version? += "/status \(fields["status_id"] ?? "-")" }
        if version != nil, action == "responsible" { version? += "/user \(fields["responsible_user_id"] ?? "-")" }
        let versionPart = version.map { IncomingWebhookStore.oneLine($0, max: 80) } ?? "sha256 " + String(digest(canonical(fields)).prefix(16))
        return "amocrm:\(accountPart):\(entity).\(action):\(item):\(versionPart)"
    }

    static func summary(entity: String, action: String, fields: [String: String]) -> String {
        func text(_ name: String) -> String? {
            guard let value = fields[name] else { return nil }
            let line = IncomingWebhookStore.oneLine(value)
            return line.isEmpty ? nil : line
        }
        let noun: String
        switch entity {
        case "leads": noun = "lead"
        case "contacts": noun = fields["type"] == "company" ? "company" : "contact"
        case "companies": noun = "company"
        case "customers": noun = "customer"
        case "tasks": noun = "task"
        default: noun = entity
        }
        var line = "amoCRM: \(noun)" + (text("id").map { " #\($0)" } ?? "")
        if let name = text("name") ?? text("text") { line += " '\(name)'" }
        switch action {
        case "add": line += " added"
        case "update": line += " updated"
        case "delete": line += " deleted"
        case "restore": line += " restored"
        case "status":
            line += " moved to status \(text("status_id") ?? "?")"
            if let pipeline = text("pipeline_id") { line += " of pipeline \(pipeline)" }
            if let old = text("old_status_id") { line += ", was \(old)" }
        case "responsible": line += " assigned to user \(text("responsible_user_id") ?? "?")"
        case "note": line += " got a note" + (text("note[text]").map { ": '\($0)'" } ?? "")
        default: line += " \(action)"
        }
        if let price = text("price"), price != "0" { line += " (price \(price))" }
        return IncomingWebhookStore.oneLine(line, max: 300)
    }

    /// The fields as `name=value` lines in name order: the same item gives the same text.
    static func canonical(_ fields: [String: String]) -> String {
        fields.keys.sorted().map { "\($0)=\(fields[$0] ?? "")\n" }.joined()
    }

    static func digest(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)))
    }

    static func encode(_ value: Stored) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
