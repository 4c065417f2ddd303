import Core
import Foundation
import NIOCore

/// A persona answering in a conversation that is remembered: the seed's `/chat`, the admin
/// panel's chat, the assistant bot and the widget all talk through this. Each turn stores the
/// person's message and the answer; what is sent upstream is trimmed to the context.
package struct Secretary: Sendable {
    package let gateway: ChatGateway
    package let sessions: ChatSessionStore
    package let memory: ConversationMemory
    /// Told each whole answer (the seed's background synthesis: its audio is made while the
    /// client reads the text, so asking for it next is a cache hit).
    let answered: (@Sendable (Persona, String) -> Void)?

    package init(
        gateway: ChatGateway,
        sessions: ChatSessionStore,
        memory: ConversationMemory,
        answered: (@Sendable (Persona, String) -> Void)? = nil
    ) {
        self.gateway = gateway
        self.sessions = sessions
        self.memory = memory
        self.answered = answered
    }

    package func persona(_ name: String?) throws -> Persona {
        let snapshot = gateway.directory.snapshot
        // The seed's secretary is Anna: the default while she exists, whatever else is added.
        let name = name ?? (snapshot.persona("anna") != nil ? "anna" : snapshot.personas.first { $0.name != PromptWriter.persona }?.name ?? "anna")
        guard let persona = snapshot.persona(name) else {
            let known = snapshot.personas.map(\.name).joined(separator: ", ")
            throw AppError.validation(field: "persona", "no persona named '\(name)'; known: \(known)")
        }
        return persona
    }

    /// One whole answer in `session`.
    package func reply(_ text: String, in session: ChatSession, as principal: Principal) async throws -> String {
        let request = try await prepare(text, in: session, as: principal)
        let answer = try await gateway.complete(request, for: principal)
        let content = Self.content(of: answer.body)
        let now = Timestamp.millis(Date())
        try await sessions.append(session: session.id, role: "user", content: text, now: now)
        try await sessions.append(session: session.id, role: "assistant", content: content, now: now)
        if !content.isEmpty, let persona = try? persona(session.persona) { answered?(persona, content) }
        return content
    }

    /// The answer piece by piece as the provider streams it; the whole answer is stored when the
    /// stream ends (a stream that breaks stores what arrived, marked as cut).
    package func streamReply(_ text: String, in session: ChatSession, as principal: Principal) async throws -> AsyncThrowingStream<String, any Error>
    {
        var request = try await prepare(text, in: session, as: principal)
        request.stream = true
        request.body.set("stream", true)
        let stream = try await gateway.stream(request, for: principal)
        let sessions = self.sessions
        let answered = self.answered
        let persona = try self.persona(session.persona)
        let (pieces, continuation) = AsyncThrowingStream<String, any Error>.makeStream()
        let task = Task {
            var whole = ""
            var failure: String?
            do {
                for try await event in stream.events {
                    let parsed = SSEEvent(bytes: event)
                    guard let data = parsed.data, !parsed.isDone else { continue }
                    if let error = Self.streamError(data) {
                        failure = error
                        continue
                    }
                    if let piece = Self.delta(data), !piece.isEmpty {
                        whole += piece
                        continuation.yield(piece)
                    }
                }
            } catch {
                failure = "\(error)"
            }
            let now = Timestamp.millis(Date())
            try? await sessions.append(session: session.id, role: "user", content: text, now: now)
            if !whole.isEmpty {
                try? await sessions.append(session: session.id, role: "assistant", content: whole, now: now)
                if failure == nil { answered?(persona, whole) }
            }
            if let failure {
                continuation.finish(throwing: AppError(.badGateway, failure, code: "upstream_stream_cut"))
            } else {
                continuation.finish()
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return pieces
    }

    func prepare(_ text: String, in session: ChatSession, as principal: Principal) async throws -> ChatRequest {
        let persona = try self.persona(session.persona)
        let history = try await sessions.messages(session: session.id, limit: 200)
        let model = persona.name + ModelRoute.secretary
        let messages = memory(for: model, principal).fit(system: persona.system_prompt, history: history, message: text)
        return ChatRequest(model: model, messages: messages)
    }

    /// The memory for a conversation with `model`: trimmed to the smallest context window among
    /// the providers that may answer it (a failover must fit too); a provider without one set
    /// counts as the installation's ATELIER_ASSISTANT_CONTEXT_TOKENS.
    func memory(for model: String, _ principal: Principal) -> ConversationMemory {
        let route = try? gateway.route(ChatRequest(model: model, messages: []), for: principal)
        let windows = route?.candidates.map { $0.provider.record.contextTokens ?? memory.contextTokens } ?? []
        guard let smallest = windows.min(), smallest != memory.contextTokens else { return memory }
        return ConversationMemory(contextTokens: smallest, answerTokens: min(memory.answerTokens, smallest / 4))
    }

    struct Completion: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable { var content: String? }
            var message: Message?
        }
        var choices: [Choice]
    }

    struct Chunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable { var content: String? }
            var delta: Delta?
        }
        var choices: [Choice]?
    }

    struct StreamError: Decodable {
        struct Inner: Decodable { var message: String }
        var error: Inner
    }

    package static func content(of body: ByteBuffer) -> String {
        (try? JSONDecoder().decode(Completion.self, from: Data(buffer: body)))?.choices.first?.message?.content ?? ""
    }

    static func delta(_ data: Substring) -> String? {
        (try? JSONDecoder().decode(Chunk.self, from: Data(data.utf8)))?.choices?.first?.delta?.content
    }

    static func streamError(_ data: Substring) -> String? {
        guard data.contains("\"error\"") else { return nil }
        return (try? JSONDecoder().decode(StreamError.self, from: Data(data.utf8)))?.error.message
    }
}
