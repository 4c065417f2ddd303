import Accounts
import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

extension WidgetRoutes {
    static func registerPublic(on table: RouteTable, store: ChatWidgetStore, secretary: Secretary, users: UserStore) {
        let tags = ["widgets"]
        let limiter = VisitorLimiter(perMinute: perMinute)

        table.get(
            "/widget.js",
            OperationDoc(
                "The embeddable chat script (see the `embed` tag of a widget)",
                tags: tags,
                auth: .none,
                responses: [.init(200, "JavaScript", contentType: "text/javascript")]
            )
        ) { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: WidgetScript.source))
            )
        }

        table.add(
            .options,
            "/widget/chat",
            OperationDoc("The browser's preflight for /widget/chat", tags: tags, auth: .none, responses: [.init(204, "Allowed")])
        ) { request, _ in
            var response = Response(status: .noContent)
            if let origin = request.headers[.origin] {
                response.headers[.accessControlAllowOrigin] = origin
                response.headers[.accessControlAllowMethods] = "POST, OPTIONS"
                response.headers[.accessControlAllowHeaders] = "Content-Type, X-Widget-Key"
                response.headers[.accessControlMaxAge] = "600"
                response.headers[.vary] = "Origin"
            }
            return response
        }

        table.post(
            "/widget/chat",
            OperationDoc(
                "A visitor's message to a widget's persona (X-Widget-Key, from one of the widget's allowed origins)",
                tags: tags,
                auth: .none,
                request: Schema.object(
                    [("message", Schema.string(maxLength: 4000)), ("visitor_id", Schema.string(maxLength: 64))],
                    required: ["message"]
                ),
                parameters: [.header("X-Widget-Key", "the widget's key", required: true)],
                responses: [.init(200, "The answer", schema: Schema.object([("response", Schema.string)]))],
                errors: [401, 403, 429, 502]
            )
        ) { request, context in
            let origin = request.headers[.origin]
            var cors: HTTPFields = [.vary: "Origin"]
            if let origin { cors[.accessControlAllowOrigin] = origin }
            func refuse(_ status: HTTPResponse.Status, _ detail: String) -> AppError { AppError(status, detail, headers: cors) }
            guard let key = request.headers[keyHeader], let widget = try await store.authenticate(key: key), widget.enabled else {
                throw refuse(.unauthorized, "X-Widget-Key is missing, wrong, or the widget is switched off")
            }
            guard widget.allows(origin: origin) else {
                throw refuse(.forbidden, "this widget answers only on its allowed origins; add the page's origin to the widget")
            }
            guard limiter.admit("\(widget.id)|\(context.clientAddress)") else {
                var error = refuse(.tooManyRequests, "at most \(perMinute) messages a minute; wait a little")
                error.headers[.retryAfter] = "60"
                throw error
            }
            let input = try await request.decodeJSON(ChatInput.self, context: context)
            let text = input.message.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw refuse(.unprocessableContent, "message: must not be empty") }
            let visitor = (input.visitor_id ?? context.clientAddress).filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
            guard let owner = try await users.find(id: widget.owner_id), !owner.disabled else {
                throw refuse(.serviceUnavailable, "this widget's owner account is disabled")
            }
            let principal = Principal(userID: owner.id, username: owner.username, role: owner.role, method: .jwt)
            let session = try await secretary.sessions.current(
                owner: owner.id,
                persona: widget.persona,
                source: "widget:\(widget.id):\(visitor.prefix(64))",
                now: Timestamp.millis(Date())
            )
            do {
                let answer = try await secretary.reply(text, in: session, as: principal)
                return JSONResponse(.ok, ChatAnswer(response: answer), headers: cors)
            } catch var error as AppError {
                // A visitor is anyone on the web: which providers failed and why, or the owner's
                // limits and usage, are the owner's business, not theirs. Status and Retry-After stay.
                if error.status.code >= 500 || error.status.code == 429 {
                    let headers = error.headers
                    error = AppError(error.status, "the assistant cannot answer right now; try again in a moment", code: error.code)
                    error.headers = headers
                }
                error.headers[.accessControlAllowOrigin] = origin
                throw error
            }
        }
    }
}

/// At most `perMinute` messages a minute per key (widget and visitor address), in this process.
final class VisitorLimiter: Sendable {
    let perMinute: Int
    let windows = Mutex([String: [ContinuousClock.Instant]]())

    init(perMinute: Int) { self.perMinute = perMinute }

    func admit(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        windows.withLock { windows in
            if windows.count > 10_000 { windows = windows.filter { $0.value.last.map { now - $0 < .seconds(60) } ?? false } }
            var times = windows[key, default: []].filter { now - $0 < .seconds(60) }
            guard times.count < perMinute else {
                windows[key] = times
                return false
            }
            times.append(now)
            windows[key] = times
            return true
        }
    }
}
