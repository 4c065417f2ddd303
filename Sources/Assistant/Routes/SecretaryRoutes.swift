import Core
import Foundation
import Hummingbird

/// Seed 004's base routes: `POST /chat {message, persona}` → `{response}` in the caller's running
/// conversation with that persona, and `POST /reset_conversation` with the seed's answer. Both
/// need credentials (a JWT or an API key): every answer costs an upstream call.
package enum SecretaryRoutes {
    struct ChatInput: Decodable, BoundedInput {
        var message: String
        var persona: String?
        /// Continue a session of the admin panel instead of the running `/chat` conversation.
        var session_id: String?

        static let maxMessage = 32_000

        func checkBounds() throws {
            try Bounded.text(message, field: "message", max: Self.maxMessage)
            try Bounded.text(persona, field: "persona", max: 64)
            try Bounded.text(session_id, field: "session_id", max: 64)
        }
    }

    struct ChatAnswer: ResponseEncodable {
        var response: String
        var session_id: String
        var persona: String
    }

    struct ResetInput: Decodable, BoundedInput {
        var persona: String?
        func checkBounds() throws { try Bounded.text(persona, field: "persona", max: 64) }
    }

    struct ResetAnswer: ResponseEncodable {
        var status = "ok"
        var message = "Контекст сброшен"
    }

    static let source = "chat"

    package static func register(on table: RouteTable, secretary: Secretary) {
        let tags = ["secretary", "compat"]
        table.post(
            "/chat",
            OperationDoc(
                "Seed 004: a persona answers `message` in your running conversation with it (`persona` defaults to anna)",
                tags: tags,
                auth: .writer,
                request: Schema.object(
                    [
                        ("message", Schema.string(maxLength: ChatInput.maxMessage)), ("persona", Schema.string(maxLength: 64)),
                        ("session_id", Schema.string(maxLength: 64)),
                    ],
                    required: ["message"]
                ),
                responses: [.init(200, "The answer", schema: Schema.object([("response", Schema.string)], required: ["response"]))],
                errors: [502, 503, 504]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let input = try await request.decodeJSON(ChatInput.self, context: context)
            let text = input.message.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw AppError.validation(field: "message", "must not be empty") }
            let session = try await session(input.session_id, persona: input.persona, principal: principal, secretary: secretary)
            let response = try await secretary.reply(text, in: session, as: principal)
            return ChatAnswer(response: response, session_id: session.id, persona: session.persona)
        }

        table.post(
            "/reset_conversation",
            OperationDoc(
                "Seed 004: forget your running /chat and /process_call conversations (all personas, or `persona`)",
                tags: tags,
                auth: .writer,
                request: Schema.object([("persona", Schema.string(maxLength: 64))]),
                requestRequired: false,
                responses: [
                    .init(200, "Forgotten", schema: Schema.object([("status", Schema.string), ("message", Schema.string)]))
                ]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            var persona: String?
            if request.headers[.contentLength].flatMap(Int.init) ?? 0 > 0 || request.headers[.contentType] != nil {
                let buffer = try await request.body.collect(upTo: 4096)
                if buffer.readableBytes > 0 {
                    persona = try APIJSON.decoder.decode(ResetInput.self, from: Data(buffer: buffer)).persona
                }
            }
            // The seed's secretary has one memory: a reset forgets what was said on the phone
            // (/process_call) as well as in /chat.
            for conversation in [source, SpeechRoutes.callSource] {
                _ = try await secretary.sessions.clear(owner: principal.userID, source: conversation, persona: persona)
            }
            return ResetAnswer()
        }
    }

    /// The session to talk in: a named one the caller may use, else the running `/chat` one.
    static func session(_ id: String?, persona: String?, principal: Principal, secretary: Secretary) async throws -> ChatSession {
        if let id {
            let found = try await secretary.sessions.find(id: id)
            guard let found, found.owner_id == principal.userID || principal.isAdmin else {
                throw AppError.notFound("session \(id) not found")
            }
            return found
        }
        let persona = try secretary.persona(persona)
        return try await secretary.sessions.current(owner: principal.userID, persona: persona.name, source: source, now: Timestamp.millis(Date()))
    }
}
