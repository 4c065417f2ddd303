import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SQLKit
import Testing

/// `/webhooks/github` and `/webhooks/amocrm`: signed (or tokened) deliveries recorded once and
/// summarized for the admins, everything unverified refused with nothing recorded.
@Suite("Incoming webhooks: GitHub and amoCRM", .timeLimit(.minutes(3)))
struct IncomingWebhookTests {
    static let githubSecret = "gh-secret-0123456789abcdef"
    static let amoToken = "amo-token-0123456789abcdef"
    static let settings = ["ATELIER_GITHUB_WEBHOOK_SECRET": githubSecret, "ATELIER_AMOCRM_WEBHOOK_SECRET": amoToken]

    static let push = """
        {"ref": "refs/heads/main", "before": "0000000", "after": "1111111", "forced": false, "deleted": false,
         "repository": {"id": 1, "name": "site", "full_name": "octo/site"}, "pusher": {"name": "alice", "email": "alice@example.com"},
         "sender": {"login": "alice"}, "commits": [{"id": "a1", "message": "one"}, {"id": "b2", "message": "two"}]}
        """

    /// `X-Hub-Signature-256` as GitHub computes it: the hex HMAC-SHA256 of the raw body.
    static func sign(_ body: String, secret: String = githubSecret) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    static func github(
        _ app: TestApp,
        _ body: String,
        event: String = "push",
        delivery: String? = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        signature: String?,
        form: Bool = false
    ) async throws -> TestResponse {
        var headers: HTTPFields = [HTTPField.Name("X-GitHub-Event")!: event]
        if let delivery { headers[HTTPField.Name("X-GitHub-Delivery")!] = delivery }
        if let signature { headers[HTTPField.Name("X-Hub-Signature-256")!] = signature }
        headers[.contentType] = form ? "application/x-www-form-urlencoded" : "application/json"
        return try await app.client.execute(uri: "/webhooks/github", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    /// A form as amoCRM posts it: names and values percent-encoded, brackets included.
    static func amoForm(_ fields: [(String, String)]) -> String {
        fields.map { pair in
            let name = pair.0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? pair.0
            let value = pair.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? pair.1
            return "\(name)=\(value)"
        }.joined(separator: "&")
    }

    static func amocrm(_ app: TestApp, _ form: String, token: String? = amoToken) async throws -> TestResponse {
        try await app.client.execute(
            uri: "/webhooks/amocrm" + (token.map { "?token=\($0)" } ?? ""),
            method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: form)
        )
    }

    static let account = [("account[subdomain]", "acme"), ("account[id]", "30739638"), ("account[_links][self]", "https://acme.amocrm.ru")]

    static let leadAndContact = amoForm(
        [
            ("leads[add][0][id]", "123"), ("leads[add][0][name]", "Website order"), ("leads[add][0][status_id]", "53861254"),
            ("leads[add][0][price]", "5000"), ("leads[add][0][responsible_user_id]", "9040358"),
            ("leads[add][0][last_modified]", "1700000000"), ("leads[add][0][date_create]", "1700000000"),
            ("leads[add][0][pipeline_id]", "6254262"), ("leads[add][0][account_id]", "30739638"),
            ("leads[add][0][custom_fields][0][id]", "44991"), ("leads[add][0][custom_fields][0][name]", "Source"),
            ("leads[add][0][custom_fields][0][values][0][value]", "site"),
            ("contacts[add][0][id]", "77"), ("contacts[add][0][name]", "Иван Петров"), ("contacts[add][0][responsible_user_id]", "9040358"),
            ("contacts[add][0][date_create]", "1700000000"), ("contacts[add][0][last_modified]", "1700000000"),
            ("contacts[add][0][type]", "contact"),
        ] + account
    )

    static func count(_ app: TestApp, _ service: String) async throws -> Int64 {
        try await app.runtime.database.sql.raw("SELECT COUNT(*) AS n FROM incoming_webhooks WHERE service = \(bind: service)")
            .first()?.decode(column: "n", as: Int64.self) ?? -1
    }

    static func summaries(_ app: TestApp, _ service: String) async throws -> [String] {
        try await app.runtime.database.sql.raw(
            "SELECT summary FROM incoming_webhooks WHERE service = \(bind: service) ORDER BY delivery_id"
        ).all().map { try $0.decode(column: "summary", as: String.self) }
    }

    @Test("a signed GitHub push is recorded once with its summary; the same delivery again is a duplicate; admins list it")
    func githubPush() async throws {
        try await TestApp.run(Self.settings) { app in
            let first = try await Self.github(app, Self.push, signature: Self.sign(Self.push))
            #expect(first.status == .ok, "\(String(buffer: first.body))")
            #expect(first.json["status"] as? String == "ok")
            #expect(first.json["event"] as? String == "push")
            let again = try await Self.github(app, Self.push, signature: Self.sign(Self.push))
            #expect(again.status == .ok)
            #expect(again.json["status"] as? String == "duplicate")
            #expect(try await Self.count(app, "github") == 1)
            #expect(try await Self.summaries(app, "github") == ["GitHub: octo/site: alice pushed 2 commits to main"])

            let admin = try await app.login()
            let list = try await app.request(.get, "/admin/webhooks/deliveries?service=github&limit=10", token: admin)
            #expect(list.status == .ok)
            let items = try #require(list.json["items"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(items.first?["delivery_id"] as? String == "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            #expect((items.first?["payload"] as? String)?.contains("octo/site") == true)
            #expect(try await app.request(.get, "/admin/webhooks/deliveries").status == .unauthorized)
            let plain = try await app.makeUser("carol")
            let notTheirs = try await app.request(.get, "/admin/webhooks/deliveries", token: plain.token)
            #expect(notTheirs.status == .forbidden, "deliveries are the operator's")
            #expect(try await app.request(.get, "/admin/webhooks/deliveries?service=gitlab", token: admin).status == .unprocessableContent)
        }
    }

    @Test("the same GitHub delivery posted 20 times at once is recorded once")
    func githubConcurrentRepeats() async throws {
        try await TestApp.run(Self.settings) { app in
            let signature = Self.sign(Self.push)
            let statuses = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await Self.github(app, Self.push, delivery: "race-1", signature: signature).json["status"] as? String ?? "?" }
                }
                var statuses: [String] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            #expect(statuses.filter { $0 == "ok" }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == "duplicate" }.count == 19)
            #expect(try await Self.count(app, "github") == 1)
        }
    }

    @Test("a wrong, missing or malformed signature, or a body changed after signing, is 401 and records nothing")
    func githubRejects() async throws {
        try await TestApp.run(Self.settings) { app in
            let wrong = try await Self.github(app, Self.push, signature: Self.sign(Self.push, secret: "another-secret"))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.detail.contains("does not match"))
            let missing = try await Self.github(app, Self.push, signature: nil)
            #expect(missing.status == .unauthorized)
            #expect(missing.detail.contains("missing X-Hub-Signature-256"))
            let changed = Self.push.replacingOccurrences(of: "alice", with: "mallory")
            let tampered = try await Self.github(app, changed, signature: Self.sign(Self.push))
            #expect(tampered.status == .unauthorized)
            let sha1 = try await Self.github(app, Self.push, signature: "sha1=0123456789abcdef0123456789abcdef01234567")
            #expect(sha1.status == .unauthorized)
            #expect(sha1.detail.contains("sha256="))
            #expect(try await Self.count(app, "github") == 0)

            // Signed, but without its delivery id: nothing to de-duplicate by.
            let noID = try await Self.github(app, Self.push, delivery: nil, signature: Self.sign(Self.push))
            #expect(noID.status == .unprocessableContent)
            #expect(noID.detail.contains("X-GitHub-Delivery"))
            let notJSON = try await Self.github(app, "[1, 2]", signature: Self.sign("[1, 2]"))
            #expect(notJSON.status == .unprocessableContent)
            #expect(try await Self.count(app, "github") == 0)
        }
    }

    @Test("a form-encoded ping is verified over the form body and summarized with its zen; a pull request names its number and title")
    func githubFormPingAndPullRequest() async throws {
        try await TestApp.run(Self.settings) { app in
            let ping = #"{"zen": "Design for failure.", "hook_id": 42, "repository": {"full_name": "octo/site"}}"#
            let form = "payload=" + (ping.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ping)
            let answer = try await Self.github(app, form, event: "ping", delivery: "ping-1", signature: Self.sign(form), form: true)
            #expect(answer.status == .ok, "\(String(buffer: answer.body))")
            #expect(answer.json["event"] as? String == "ping")

            let pull = """
                {"action": "closed", "number": 12, "pull_request": {"number": 12, "title": "Add webhooks", "merged": true},
                 "repository": {"full_name": "octo/site"}, "sender": {"login": "bob"}}
                """
            let merged = try await Self.github(app, pull, event: "pull_request", delivery: "pr-1", signature: Self.sign(pull))
            #expect(merged.status == .ok)
            let summaries = try await Self.summaries(app, "github")
            #expect(summaries.contains("GitHub: ping from octo/site (hook 42): Design for failure."), "\(summaries)")
            #expect(summaries.contains("GitHub: octo/site: pull request #12 merged: 'Add webhooks' by bob"), "\(summaries)")
        }
    }

    @Test("an amoCRM lead and contact are recorded and summarized; a repeat is a duplicate; a status change is new")
    func amoCRMEvents() async throws {
        try await TestApp.run(Self.settings) { app in
            let first = try await Self.amocrm(app, Self.leadAndContact)
            #expect(first.status == .ok, "\(String(buffer: first.body))")
            #expect(first.json["status"] as? String == "ok")
            #expect(first.json["event"] as? String == "contacts.add,leads.add")
            #expect(first.json["recorded"] as? Int == 2)
            let summaries = try await Self.summaries(app, "amocrm")
            #expect(summaries.contains("amoCRM: lead #123 'Website order' added (price 5000)"), "\(summaries)")
            #expect(summaries.contains("amoCRM: contact #77 'Иван Петров' added"), "\(summaries)")

            let again = try await Self.amocrm(app, Self.leadAndContact)
            #expect(again.status == .ok)
            #expect(again.json["status"] as? String == "duplicate")
            #expect(again.json["recorded"] as? Int == 0)
            #expect(try await Self.count(app, "amocrm") == 2)

            let status = Self.amoForm(
                [
                    ("leads[status][0][id]", "123"), ("leads[status][0][status_id]", "142"), ("leads[status][0][old_status_id]", "53861254"),
                    ("leads[status][0][pipeline_id]", "6254262"), ("leads[status][0][last_modified]", "1700000100"),
                ] + Self.account
            )
            let moved = try await Self.amocrm(app, status)
            #expect(moved.json["status"] as? String == "ok")
            #expect(moved.json["event"] as? String == "leads.status")
            #expect(try await Self.count(app, "amocrm") == 3)
            #expect(try await Self.summaries(app, "amocrm").contains("amoCRM: lead #123 moved to status 142 of pipeline 6254262, was 53861254"))
        }
    }

    @Test("an amoCRM post with a wrong or missing token is 401 and records nothing; a form without events is 422")
    func amoCRMRejects() async throws {
        try await TestApp.run(Self.settings) { app in
            let wrong = try await Self.amocrm(app, Self.leadAndContact, token: "guess")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.detail.contains("ATELIER_AMOCRM_WEBHOOK_SECRET"))
            let missing = try await Self.amocrm(app, Self.leadAndContact, token: nil)
            #expect(missing.status == .unauthorized)
            #expect(missing.detail.contains("token"))
            #expect(try await Self.count(app, "amocrm") == 0)
            let empty = try await Self.amocrm(app, Self.amoForm(Self.account))
            #expect(empty.status == .unprocessableContent)
            #expect(try await Self.count(app, "amocrm") == 0)
        }
    }

    @Test("without the secrets both routes answer 503 naming the setting, and record nothing")
    func notConfigured() async throws {
        try await TestApp.run { app in
            let github = try await Self.github(app, Self.push, signature: Self.sign(Self.push))
            #expect(github.status == .serviceUnavailable)
            #expect(github.detail.contains("ATELIER_GITHUB_WEBHOOK_SECRET"))
            let amo = try await Self.amocrm(app, Self.leadAndContact)
            #expect(amo.status == .serviceUnavailable)
            #expect(amo.detail.contains("ATELIER_AMOCRM_WEBHOOK_SECRET"))
            #expect(try await Self.count(app, "github") == 0)
            #expect(try await Self.count(app, "amocrm") == 0)
        }
    }

    @Test("a lead is told to the admins of the operator's bots, never through a bot another account runs")
    func announcedThroughOperatorBotsOnly() async throws {
        let fakes = try await FakeTelegram.start(tokens: [
            "7000000001:AAE-fake-token-for-tests_0123456789", "7000000002:AAE-fake-token-for-tests_0123456789",
        ])
        let result = await Result {
            var settings = Self.settings
            settings["ATELIER_TELEGRAM_API_URL"] = fakes[0].baseURL
            try await TestApp.run(settings) { app in
                let admin = try await app.login()
                let mallory = try await app.makeUser("mallory")
                for (fake, owner, chat) in [(fakes[0], admin, 900), (fakes[1], mallory.token, 901)] {
                    let added = try await StudioHarness.addBot(
                        app,
                        owner,
                        token: fake.token,
                        name: "bot-\(chat)",
                        kind: "assistant",
                        extra: #""admin_ids": [\#(chat)]"#
                    )
                    let id = try #require(added.json["id"] as? String, "\(added.detail)")
                    #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: owner).status == .ok)
                }
                try await waitUntil("both bots polling", timeout: .seconds(20)) { fakes.allSatisfy { !$0.calls("getUpdates").isEmpty } }

                #expect(try await Self.amocrm(app, Self.leadAndContact).status == .ok)
                @Sendable func texts(_ fake: FakeTelegram, _ chat: Int64) -> [String] {
                    fake.calls("sendMessage").filter { Int64("\($0.params["chat_id"] ?? "")") == chat }.compactMap { $0.params["text"] as? String }
                }
                try await waitUntil("the operator's bot told its admin", timeout: .seconds(20)) {
                    texts(fakes[0], 900).contains { $0.contains("lead #123") }
                }
                try await Task.sleep(for: .milliseconds(500))
                #expect(texts(fakes[1], 901).isEmpty, "another account's bot heard the operator's lead: \(texts(fakes[1], 901))")
            }
        }
        await FakeTelegram.stop(all: fakes)
        try result.get()
    }
}
