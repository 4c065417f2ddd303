import Accounts
import Core
import Foundation
import Hummingbird

/// `/admin/chat/sessions` (seed 004's ChatSession, owned: admins see all, users and web their
/// own, guests read, another owner's is 404) and `/admin/chat/stream`, the panel's chat as
/// Server-Sent Events in the seed's format: `data: {"message": "chunk"}` … `data: [DONE]`.
package enum ChatSessionRoutes {
    struct SessionInput: Decodable, BoundedInput {
        var persona: String?
        var title: String?
        func checkBounds() throws {
            try Bounded.text(persona, field: "persona", max: 64)
            try Bounded.text(title, field: "title", max: 200)
        }
    }

    struct SessionResponse: ResponseEncodable {
        var id: String
        var owner_id: String
        var persona: String
        var title: String
        var source: String
        var created_at: Date
        var updated_at: Date
        var messages: [MessageResponse]?

        init(_ session: ChatSession, messages: [ChatMessage]? = nil) {
            id = session.id
            owner_id = session.owner_id
            persona = session.persona
            title = session.title
            source = session.source
            created_at = Timestamp.date(session.created_at)
            updated_at = Timestamp.date(session.updated_at)
            self.messages = messages?.map(MessageResponse.init)
        }
    }

    struct MessageResponse: Encodable, Sendable {
        var id: Int64
        var role: String
        var content: String
        var created_at: Date
        init(_ message: ChatMessage) {
            id = message.id
            role = message.role
            content = message.content
            created_at = Timestamp.date(message.created_at)
        }
    }

    struct StreamInput: Decodable, BoundedInput {
        var message: String
        var session_id: String?
        var persona: String?
        func checkBounds() throws {
            try Bounded.text(message, field: "message", max: SecretaryRoutes.ChatInput.maxMessage)
            try Bounded.text(session_id, field: "session_id", max: 64)
            try Bounded.text(persona, field: "persona", max: 64)
        }
    }

    struct Piece: Encodable, Sendable {
        var message: String
    }

    struct StreamFailure: Encodable, Sendable {
        var error: String
    }

    static let schema = Schema.object(
        [
            ("id", Schema.string), ("owner_id", Schema.string), ("persona", Schema.string), ("title", Schema.string), ("source", Schema.string),
            ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
            ("messages", Schema.array(Schema.object([("role", Schema.string), ("content", Schema.string)]))),
        ],
        required: ["id", "persona", "title"]
    )

    package static func register(on table: RouteTable, secretary: Secretary) {
        let tags = ["chat sessions"]
        let store = secretary.sessions
        table.schema("ChatSession", schema)
        let ref = Schema.ref("ChatSession")

        table.get(
            "/admin/chat/sessions",
            OperationDoc(
                "Chat sessions, newest first (yours; an admin sees all)",
                tags: tags,
                auth: .role(.guest),
                parameters: PageRequest.parameters,
                responses: [.init(200, "A page of sessions", schema: Schema.page(of: ref))]
            )
        ) { request, context in
            let principal = try context.require(.guest)
            let page = try PageRequest(request: request)
            let rows = try await store.list(scope: OwnerScope(principal), limit: page.limit + 1, after: page.after)
            return Page(fetched: rows.map { SessionResponse($0) }, request: page, id: \.id)
        }

        table.post(
            "/admin/chat/sessions",
            OperationDoc(
                "Start a session with a persona",
                tags: tags,
                auth: .writer,
                request: Schema.object([("persona", Schema.string(maxLength: 64)), ("title", Schema.string(maxLength: 200))]),
                responses: [.init(201, "Started", schema: ref)]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let input = try await request.decodeJSON(SessionInput.self, context: context)
            let persona = try secretary.persona(input.persona)
            let title = input.title?.trimmingCharacters(in: .whitespacesAndNewlines)
            let session = ChatSession(
                ownerID: principal.userID,
                persona: persona.name,
                title: title.flatMap { $0.isEmpty ? nil : $0 } ?? persona.display_name,
                source: "admin",
                now: Timestamp.millis(Date())
            )
            try await store.insert(session)
            return JSONResponse(.created, SessionResponse(session), headers: [.location: context.absolute("/admin/chat/sessions/\(session.id)")])
        }

        table.get(
            "/admin/chat/sessions/{id}",
            OperationDoc("One session with its last 200 messages", tags: tags, auth: .role(.guest), responses: [.init(200, "Session", schema: ref)])
        ) { _, context in
            let session = try await find(store, context, write: false)
            return SessionResponse(session, messages: try await store.messages(session: session.id, limit: 200))
        }

        let change = OperationDoc(
            "Rename a session or change its persona",
            tags: tags,
            auth: .writer,
            request: Schema.object([("persona", Schema.string(maxLength: 64)), ("title", Schema.string(maxLength: 200))]),
            responses: [.init(200, "Changed", schema: ref)]
        )
        let update: @Sendable (Request, AppRequestContext) async throws -> SessionResponse = { request, context in
            var session = try await find(store, context, write: true)
            let input = try await request.decodeJSON(SessionInput.self, context: context)
            if let persona = input.persona { session.persona = try secretary.persona(persona).name }
            if let title = input.title?.trimmingCharacters(in: .whitespacesAndNewlines) {
                guard !title.isEmpty else { throw AppError.validation(field: "title", "must not be empty") }
                session.title = title
            }
            session.updated_at = Timestamp.millis(Date())
            try await store.update(session)
            return SessionResponse(session)
        }
        table.put("/admin/chat/sessions/{id}", change, handler: update)
        table.add(.patch, "/admin/chat/sessions/{id}", change, handler: update)

        table.delete(
            "/admin/chat/sessions/{id}",
            OperationDoc("Delete a session and its messages", tags: tags, auth: .writer, responses: [.init(204, "Deleted")])
        ) { _, context in
            let session = try await find(store, context, write: true)
            try await store.delete(id: session.id)
            return Response(status: .noContent)
        }

        let streamDoc = OperationDoc(
            "The persona's answer as Server-Sent Events: `data: {\"message\": \"chunk\"}` per piece, then `data: [DONE]` (a failure: `data: {\"error\": …}` before it). GET takes `message` and `session_id` or `persona` as query parameters; POST as JSON",
            tags: tags,
            auth: .writer,
            request: Schema.object(
                [
                    ("message", Schema.string(maxLength: SecretaryRoutes.ChatInput.maxMessage)), ("session_id", Schema.string(maxLength: 64)),
                    ("persona", Schema.string(maxLength: 64)),
                ],
                required: ["message"]
            ),
            requestRequired: false,
            responses: [.init(200, "text/event-stream")],
            errors: [404, 502, 503]
        )
        let stream: @Sendable (Request, AppRequestContext) async throws -> Response = { request, context in
            let principal = try context.requireWriter()
            let input: StreamInput
            if request.method == .get {
                let query = request.uri.queryParameters
                guard let message = query["message"].map(String.init) else {
                    throw AppError.validation(field: "message", "required (query parameter)")
                }
                input = StreamInput(message: message, session_id: query["session_id"].map(String.init), persona: query["persona"].map(String.init))
                try input.checkBounds()
            } else {
                input = try await request.decodeJSON(StreamInput.self, context: context)
            }
            let text = input.message.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw AppError.validation(field: "message", "must not be empty") }
            let session = try await SecretaryRoutes.session(input.session_id, persona: input.persona, principal: principal, secretary: secretary)
            let pieces = try await secretary.streamReply(text, in: session, as: principal)
            return ServerSentEvents.response { writer in
                do {
                    for try await piece in pieces { try await writer.send(json: Piece(message: piece)) }
                } catch let error as AppError {
                    try await writer.send(json: StreamFailure(error: error.detail))
                }
                try await writer.send(raw: "[DONE]")
            }
        }
        table.get("/admin/chat/stream", streamDoc, handler: stream)
        table.post("/admin/chat/stream", streamDoc, handler: stream)
    }

    static func find(_ store: ChatSessionStore, _ context: AppRequestContext, write: Bool) async throws -> ChatSession {
        let principal = write ? try context.requireWriter() : try context.require(.guest)
        let id = try context.parameters.require("id")
        return try OwnerScope(principal).require(try await store.find(id: id), owner: \.owner_id, notFound: "session \(id) not found")
    }
}
