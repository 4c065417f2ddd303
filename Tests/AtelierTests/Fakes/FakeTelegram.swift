import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// The Telegram Bot API as api.telegram.org answers it: `POST /bot<token>/<method>` with JSON or
/// multipart/form-data, `{"ok": true, "result": …}` or `{"ok": false, "error_code", "description",
/// "parameters"}`, files at `/file/bot<token>/<file_path>`. It records every call, keeps the
/// files it was sent (so a `file_id` can be sent again), serves `getUpdates` with offset
/// confirmation, and can be told to fail: flood control with `retry_after`, blocked people,
/// unknown chats, a migrated group, or an HTML page from a proxy.
final class FakeTelegram: Sendable {
    /// getMe's answer: the bot's id is its token's first part, as Telegram's is; the default
    /// token's bot is `atelier_test_bot`, another's has its id in its username.
    var botUser: [String: Any] {
        let id = Int64(token.split(separator: ":").first ?? "") ?? 7_000_000_001
        return [
            "id": id, "is_bot": true, "first_name": "Atelier Test Bot",
            "username": id == 7_000_000_001 ? "atelier_test_bot" : "atelier_test_bot_\(id)",
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
        ]
    }

    struct Call: Sendable {
        var method: String
        /// Parameters as JSON text (multipart text fields are gathered into the same object).
        var json: String
        /// Uploaded file parts by field name.
        var files: [String: Data]
        var contentType: String
        /// When it arrived: flood-control tests check a retry came no earlier than allowed.
        var at = ContinuousClock.now

        var params: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:] }
    }

    /// A scripted refusal for the next call of a method.
    struct Failure: Sendable {
        var status: Int
        var body: String
    }

    struct State: Sendable {
        var calls: [Call] = []
        var updates: [String] = []  // JSON of each pending update, in update_id order
        var failures: [String: [Failure]] = [:]
        var blocked: Set<Int64> = []
        var files: [String: (path: String, data: Data)] = [:]
        var nextMessageID: Int64 = 100
        var webhook: (url: String, secret: String)?
        /// Set by `stop`: a long poll in progress answers at once, or the server's graceful
        /// shutdown would wait out its timeout.
        var stopping = false
        /// The latest getUpdates: as Telegram does, a new one ends the one before it with 409
        /// ("terminated by other getUpdates request"), so two live pollers see conflicts.
        var latestPoll = 0
        var conflicts = 0
    }

    let state = NIOLockedValueBox(State())
    let token: String
    private let serverBox = NIOLockedValueBox<RunningServer?>(nil)
    var server: RunningServer { serverBox.withLockedValue { $0! } }
    var baseURL: String { server.baseURL() }

    init(token: String) { self.token = token }

    static func start(token: String = "7000000001:AAE-fake-token-for-tests_0123456789") async throws -> FakeTelegram {
        try await start(tokens: [token])[0]
    }

    /// One Bot API server for several bots, as api.telegram.org is: each token has its own
    /// updates, calls and files. Stop them with `stop(all:)`.
    static func start(tokens: [String]) async throws -> [FakeTelegram] {
        let fakes = tokens.map(FakeTelegram.init(token:))
        @Sendable func fake(_ context: BasicRequestContext) -> FakeTelegram? { fakes.first { context.parameters.get("bot") == "bot\($0.token)" } }
        let router = Router()
        router.post("/{bot}/{method}") { request, context in
            guard let fake = fake(context) else { return FakeTelegram.error(401, "Unauthorized") }
            return try await fake.handle(request, context)
        }
        router.get("/{bot}/{method}") { request, context in
            guard let fake = fake(context) else { return FakeTelegram.error(401, "Unauthorized") }
            return try await fake.handle(request, context)
        }
        router.get("/file/{bot}/**") { _, context in
            guard let fake = fake(context) else { return FakeTelegram.error(404, "Not Found") }
            let path = context.parameters.getCatchAll().joined(separator: "/")
            guard let file = fake.state.withLockedValue({ $0.files.values.first { $0.path == path } }) else {
                return FakeTelegram.error(404, "Not Found")
            }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(data: file.data)))
        }
        let server = try await RunningServer.start(router)
        for fake in fakes { fake.serverBox.withLockedValue { $0 = server } }
        return fakes
    }

    func stop() async { await Self.stop(all: [self]) }

    /// Stops the server the bots share (long polls in progress answer at once).
    static func stop(all fakes: [FakeTelegram]) async {
        for fake in fakes { fake.state.withLockedValue { $0.stopping = true } }
        await fakes.first?.server.stop()
    }

    var calls: [Call] { state.withLockedValue { $0.calls } }
    func calls(_ method: String) -> [Call] { calls.filter { $0.method == method } }

    /// The next call of `method` answers 429 with `retry_after`, as flood control does.
    func floodControl(_ method: String, retryAfter: Int, times: Int = 1) {
        let body =
            #"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after \#(retryAfter)","parameters":{"retry_after":\#(retryAfter)}}"#
        fail(method, status: 429, body: body, times: times)
    }

    func fail(_ method: String, status: Int, body: String, times: Int = 1) {
        state.withLockedValue { $0.failures[method, default: []] += Array(repeating: Failure(status: status, body: body), count: times) }
    }

    /// Queues an update for `getUpdates`; returns its id.
    @discardableResult
    func push(_ update: [String: Any]) -> Int64 {
        state.withLockedValue { state in
            let id = Int64(state.updates.count + 1)
            var update = update
            update["update_id"] = id
            state.updates.append(String(decoding: try! JSONSerialization.data(withJSONObject: update), as: UTF8.self))
            return id
        }
    }

    /// A file Telegram holds (as if a person sent it): its id, and its path for `getFile`.
    func addFile(_ data: Data, id: String, path: String) {
        state.withLockedValue { $0.files[id] = (path, data) }
    }

    static func error(_ code: Int, _ description: String, parameters: [String: Any]? = nil) -> Response {
        var body: [String: Any] = ["ok": false, "error_code": code, "description": description]
        if let parameters { body["parameters"] = parameters }
        return json(HTTPResponse.Status(code: code), body)
    }

    static func ok(_ result: Any) -> Response { json(.ok, ["ok": true, "result": result]) }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    func handle(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard context.parameters.get("bot") == "bot\(token)" else { return Self.error(401, "Unauthorized") }
        let method = context.parameters.get("method") ?? ""
        let contentType = request.headers[.contentType] ?? ""
        let body = Data(buffer: try await request.body.collect(upTo: 64 << 20))
        var params: [String: Any] = [:]
        var files: [String: Data] = [:]
        if contentType.hasPrefix("multipart/form-data") {
            for (name, part) in MultipartParts.parse(body, contentType: contentType) {
                if part.filename != nil {
                    files[name] = part.data
                } else {
                    let text = String(decoding: part.data, as: UTF8.self)
                    // As the Bot API does: a field holding JSON (markup, media) is read as JSON.
                    params[name] =
                        (text.hasPrefix("[") || text.hasPrefix("{")) ? (try? JSONSerialization.jsonObject(with: part.data)) ?? text : text
                }
            }
        } else if !body.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                return Self.error(400, "Bad Request: can't parse JSON object")
            }
            params = object
        }
        let json = String(decoding: (try? JSONSerialization.data(withJSONObject: params)) ?? Data(), as: UTF8.self)
        let scripted: Failure? = state.withLockedValue { state in
            state.calls.append(Call(method: method, json: json, files: files, contentType: contentType))
            guard var queue = state.failures[method], !queue.isEmpty else { return nil }
            let first = queue.removeFirst()
            state.failures[method] = queue
            return first
        }
        if let scripted {
            let type = scripted.body.hasPrefix("{") ? "application/json" : "text/html"
            return Response(
                status: HTTPResponse.Status(code: scripted.status),
                headers: [.contentType: type],
                body: .init(byteBuffer: ByteBuffer(string: scripted.body))
            )
        }
        return await answer(method, params, files: files)
    }

    func chatID(_ params: [String: Any]) -> Int64? {
        if let number = params["chat_id"] as? NSNumber { return number.int64Value }
        if let text = params["chat_id"] as? String { return Int64(text) }
        return nil
    }

    /// A message as the Bot API answers a send: the bot as `from`, the chat, the date.
    func message(_ chat: Int64, extra: [String: Any]) -> [String: Any] {
        let id = state.withLockedValue { state -> Int64 in
            state.nextMessageID += 1
            return state.nextMessageID
        }
        var message: [String: Any] = [
            "message_id": id, "from": botUser, "date": Int(Date().timeIntervalSince1970),
            "chat": chat < 0 ? ["id": chat, "type": "supergroup", "title": "Group"] : ["id": chat, "type": "private", "first_name": "Person"],
        ]
        message.merge(extra) { $1 }
        return message
    }

    /// A stored photo or document: an uploaded part, or one sent before by its file_id.
    func store(_ field: String, _ params: [String: Any], files: [String: Data]) -> (id: String, size: Int)? {
        if let data = files[field] {
            return state.withLockedValue { state in
                let id = "AgACAgIAAxkBAAI\(state.files.count + 1)fake"
                state.files[id] = ("photos/file_\(state.files.count + 1).jpg", data)
                return (id, data.count)
            }
        }
        guard let reference = params[field] as? String else { return nil }
        if let known = state.withLockedValue({ $0.files[reference] }) { return (reference, known.data.count) }
        return nil
    }

    /// Updates from `offset` on; with none, waits up to `wait` seconds for one, as a long poll does.
    func longPoll(offset: Int64, limit: Int, wait: Double, poll: Int) async -> Response {
        let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
        while true {
            let superseded = state.withLockedValue { state in
                guard state.latestPoll != poll else { return false }
                state.conflicts += 1
                return true
            }
            if superseded {
                return Self.error(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
            }
            let pending = state.withLockedValue { state -> [Any] in
                // Telegram forgets every update before the offset once it is asked for it.
                let all = state.updates.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                return Array(all.filter { (($0["update_id"] as? NSNumber)?.int64Value ?? 0) >= offset }.prefix(limit))
            }
            if !pending.isEmpty || ContinuousClock.now >= deadline || state.withLockedValue({ $0.stopping }) { return Self.ok(pending) }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    func answer(_ method: String, _ params: [String: Any], files: [String: Data]) async -> Response {
        let chat = chatID(params)
        if let chat, state.withLockedValue({ $0.blocked.contains(chat) }) {
            return Self.error(403, "Forbidden: bot was blocked by the user")
        }
        if let chat, chat == -1_000 {
            return Self.error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                parameters: ["migrate_to_chat_id": -1_001_234_567_890]
            )
        }
        if let chat, chat == 404 { return Self.error(400, "Bad Request: chat not found") }
        switch method {
        case "getMe":
            return Self.ok(botUser)
        case "getUpdates":
            let offset = (params["offset"] as? NSNumber)?.int64Value ?? 0
            if state.withLockedValue({ $0.webhook != nil }) {
                return Self.error(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
            }
            let limit = (params["limit"] as? NSNumber)?.intValue ?? 100
            let wait = Double((params["timeout"] as? NSNumber)?.intValue ?? 0)
            let poll = state.withLockedValue { state in
                state.latestPoll += 1
                return state.latestPoll
            }
            return await longPoll(offset: offset, limit: limit, wait: wait, poll: poll)
        case "setWebhook":
            guard let url = params["url"] as? String, url.hasPrefix("https://") || url.hasPrefix("http://127.0.0.1") else {
                return Self.error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            }
            state.withLockedValue { $0.webhook = (url, params["secret_token"] as? String ?? "") }
            return Self.ok(true)
        case "deleteWebhook":
            state.withLockedValue { $0.webhook = nil }
            return Self.ok(true)
        case "setMyCommands", "deleteMessage", "sendChatAction", "answerCallbackQuery", "answerPreCheckoutQuery", "refundStarPayment":
            return Self.ok(true)
        case "sendMessage":
            guard let chat, let text = params["text"] as? String, !text.isEmpty else { return Self.error(400, "Bad Request: message text is empty") }
            return Self.ok(message(chat, extra: ["text": text]))
        case "editMessageText", "editMessageReplyMarkup":
            guard let chat, let id = (params["message_id"] as? NSNumber)?.int64Value else {
                return Self.error(400, "Bad Request: message to edit not found")
            }
            var edited = message(chat, extra: ["text": params["text"] as? String ?? "", "edit_date": Int(Date().timeIntervalSince1970)])
            edited["message_id"] = id
            return Self.ok(edited)
        case "sendPhoto", "sendDocument":
            let field = method == "sendPhoto" ? "photo" : "document"
            guard let chat else { return Self.error(400, "Bad Request: chat_id is empty") }
            guard let stored = store(field, params, files: files) else {
                return Self.error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            }
            let extra: [String: Any] =
                method == "sendPhoto"
                ? ["photo": [["file_id": stored.id, "file_unique_id": "u\(stored.id)", "width": 512, "height": 512, "file_size": stored.size]]]
                : ["document": ["file_id": stored.id, "file_unique_id": "u\(stored.id)", "file_name": "file", "file_size": stored.size]]
            return Self.ok(message(chat, extra: extra))
        case "sendVoice":
            guard let chat else { return Self.error(400, "Bad Request: chat_id is empty") }
            guard let stored = store("voice", params, files: files) else {
                return Self.error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            }
            let voice: [String: Any] = ["file_id": stored.id, "file_unique_id": "u\(stored.id)", "duration": 2, "mime_type": "audio/ogg"]
            return Self.ok(message(chat, extra: ["voice": voice]))
        case "sendMediaGroup":
            guard let chat, let media = params["media"] as? [[String: Any]], (2...10).contains(media.count) else {
                return Self.error(400, "Bad Request: wrong number of media in the album")
            }
            var messages: [Any] = []
            let group = "1398\(Int.random(in: 1000...9999))"
            for item in media {
                guard let reference = item["media"] as? String else { return Self.error(400, "Bad Request: media not found") }
                let field = reference.hasPrefix("attach://") ? String(reference.dropFirst(9)) : "media"
                guard let stored = store(field, reference.hasPrefix("attach://") ? [:] : ["media": reference], files: files) else {
                    return Self.error(400, "Bad Request: wrong file identifier/HTTP URL specified")
                }
                messages.append(
                    message(
                        chat,
                        extra: [
                            "media_group_id": group,
                            "photo": [
                                ["file_id": stored.id, "file_unique_id": "u\(stored.id)", "width": 512, "height": 512, "file_size": stored.size]
                            ],
                        ]
                    )
                )
            }
            return Self.ok(messages)
        case "getFile":
            guard let id = params["file_id"] as? String, let file = state.withLockedValue({ $0.files[id] }) else {
                return Self.error(400, "Bad Request: invalid file_id")
            }
            return Self.ok(["file_id": id, "file_unique_id": "u\(id)", "file_size": file.data.count, "file_path": file.path])
        case "sendInvoice":
            guard let chat, params["currency"] as? String == "XTR" || (params["provider_token"] as? String)?.isEmpty == false else {
                return Self.error(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
            }
            return Self.ok(
                message(
                    chat,
                    extra: [
                        "invoice": [
                            "title": params["title"] ?? "", "description": params["description"] ?? "", "start_parameter": "",
                            "currency": params["currency"] ?? "", "total_amount": ((params["prices"] as? [[String: Any]])?.first?["amount"]) ?? 0,
                        ]
                    ]
                )
            )
        case "createInvoiceLink":
            return Self.ok("https://t.me/$fakeInvoice\(Int.random(in: 1000...9999))")
        default:
            return Self.error(404, "Not Found")
        }
    }
}
