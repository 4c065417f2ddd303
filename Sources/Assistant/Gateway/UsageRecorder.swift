import Core
import Foundation
import Logging
import SQLKit
import ServiceLifecycle
import Storage
import Synchronization

/// One finished gateway request: who asked (owner and API key), which provider answered, and
/// the tokens the upstream counted.
package struct UsageEvent: Sendable, Equatable {
    package var ownerID: String
    package var keyID: String?
    package var providerID: String
    package var model: String
    package var promptTokens: Int64
    package var completionTokens: Int64
    /// `ok`, `failed` (no provider answered), `cut` (a stream ended early), `refused` (the
    /// upstream refused the request as the client's error).
    package var status: String
    package var durationMillis: Int64
    package var at: Int64
}

/// Collects usage in memory and writes it in one statement a second: a row per request written
/// in the request's path would cost more than everything else the gateway does, and on SQLite it
/// would serialise all requests. What is not yet written is counted by `pending(subject:)`, so
/// budgets see it; a shutdown writes the rest.
package final class UsageRecorder: Service, Sendable {
    let database: Database
    let logger: Logger
    let buffer = Mutex([UsageEvent]())
    /// Taken by a flush and not yet committed: still counted by `pending`, or a budget would not
    /// see them for the moment of the write.
    let writing = Mutex([String: [UsageEvent]]())
    /// Flushes run one after another: a reader that flushes before it queries (`GET
    /// /admin/llm/usage`) must also wait for the timer's flush that took events a moment earlier,
    /// or it reads the table without them (CI once counted 1 request of 2).
    let flushes = AsyncLock()
    static let maxBuffered = 100_000

    package init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    package func record(_ event: UsageEvent) {
        buffer.withLock { events in
            // A database that stays away must not grow memory without end: the oldest are dropped
            // (and said so once per flush failure below).
            if events.count >= Self.maxBuffered { events.removeFirst(events.count / 10) }
            events.append(event)
        }
    }

    /// Tokens of `subject` (a key id or an owner id) not yet written.
    package func pending(subject: String, since: Int64) -> Int64 {
        func sum(_ events: [UsageEvent]) -> Int64 {
            events.reduce(0) { total, event in
                (event.keyID == subject || event.ownerID == subject) && event.at >= since
                    ? total + event.promptTokens + event.completionTokens : total
            }
        }
        // The buffer first: a flush moves events from it to `writing`, so a flush in between
        // counts them twice (a budget errs on the safe side), never not at all.
        let buffered = buffer.withLock { sum($0) }
        return buffered + writing.withLock { $0.values.reduce(0) { $0 + sum($1) } }
    }

    /// Writes what is buffered, after any flush already under way has finished; when it returns,
    /// every event recorded before the call is in the table (or it throws).
    package func flush() async throws {
        try await flushes.withLock { try await self.writeBuffered() }
    }

    private func writeBuffered() async throws {
        let batch = ID.make("flush")
        let events = buffer.withLock { events in
            let taken = events
            events.removeAll(keepingCapacity: true)
            if !taken.isEmpty { writing.withLock { $0[batch] = taken } }
            return taken
        }
        guard !events.isEmpty else { return }
        defer { _ = writing.withLock { $0.removeValue(forKey: batch) } }
        do {
            try await database.transaction { db in
                for start in stride(from: 0, to: events.count, by: 1000) {
                    let chunk = Array(events[start..<min(start + 1000, events.count)])
                    var rows = BulkRows(count: chunk.count)
                    rows.text("id", chunk.map { _ in ID.make("use") })
                    rows.bigint("at", chunk.map(\.at))
                    rows.text("owner_id", chunk.map(\.ownerID))
                    rows.optionalText("key_id", chunk.map(\.keyID))
                    rows.text("provider_id", chunk.map(\.providerID))
                    rows.text("model", chunk.map(\.model))
                    rows.bigint("prompt_tokens", chunk.map(\.promptTokens))
                    rows.bigint("completion_tokens", chunk.map(\.completionTokens))
                    rows.text("status", chunk.map(\.status))
                    rows.bigint("duration_ms", chunk.map(\.durationMillis))
                    try await db.raw(
                        """
                        INSERT INTO llm_usage (id, at, owner_id, key_id, provider_id, model, prompt_tokens, completion_tokens, status, duration_ms)
                        SELECT v.id, v.at, v.owner_id, v.key_id, v.provider_id, v.model, v.prompt_tokens, v.completion_tokens, v.status,
                            v.duration_ms FROM
                        """ + rows.table(for: self.database.kind)
                    ).run()
                }
            }
        } catch {
            // Put them back in front, so a database that is away for a moment loses nothing.
            buffer.withLock { $0.insert(contentsOf: events, at: 0) }
            throw error
        }
    }

    package func run() async throws {
        // Stops at once on shutdown (services after it in the group wait for it), then writes the rest.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                do { try await self.flush() } catch is CancellationError {
                    return
                } catch {
                    self.logger.warning("assistant: writing LLM usage failed; kept for the next try", metadata: ["error": "\(error)"])
                }
            }
        }
        try? await flush()
    }
}
