import AsyncHTTPClient
import Core
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The OpenAI-compatible gateway: one chat completion, sent to the route's providers in order
/// until one answers. A provider is left for the next on a connection error, a 5xx, a 429, a
/// rejected key, or no answer (for a stream: no first byte) within its timeout; it then cools
/// down (`ProviderHealth`). Nothing reaches the client until a provider has answered, so a
/// failover is invisible; once a stream has started it is never moved to another provider (that
/// would splice two answers): a cut stream ends with an error event instead.
package struct ChatGateway: Sendable {
    package let directory: AssistantDirectory
    package let health: ProviderHealth
    package let usage: UsageRecorder
    package let limits: UsageLimits
    let transport: LLMTransport
    let logger: Logger
    /// A 429's Retry-After at most this long is waited for when no other provider is left.
    let longestWait: Duration

    package init(
        directory: AssistantDirectory,
        health: ProviderHealth,
        usage: UsageRecorder,
        limits: UsageLimits,
        transport: LLMTransport,
        logger: Logger,
        longestWait: Duration = .seconds(5)
    ) {
        self.directory = directory
        self.health = health
        self.usage = usage
        self.limits = limits
        self.transport = transport
        self.logger = logger
        self.longestWait = longestWait
    }

    /// A non-streaming answer: the upstream's JSON body, unchanged.
    package struct Answer: Sendable {
        package var body: ByteBuffer
        package var contentType: String
        package var provider: String
    }

    package func route(_ request: ChatRequest, for principal: Principal) throws -> ModelRoute {
        try ModelRoute.resolve(request.model, in: directory.snapshot, for: principal)
    }

    package func complete(_ request: ChatRequest, for principal: Principal) async throws -> Answer {
        try await limits.admit(principal)
        let route = try route(request, for: principal)
        var answer: Answer?
        try await run(route, request, principal) { candidate, response in
            let seconds = candidate.provider.record.timeoutSeconds
            do {
                // The body must keep coming: a head followed by silence longer than the provider's
                // time is left like a hang, not held until the client's read timeout. (Silence,
                // not the total: a slow answer that keeps arriving is not cut.)
                let body = try await Self.collect(response.body, limit: 64 << 20, idle: .seconds(seconds))
                let probe = try? JSONDecoder().decode(UsageProbe.self, from: Data(buffer: body))
                let type = response.headers.first(name: "content-type") ?? "application/json"
                answer = Answer(body: body, contentType: type, provider: candidate.provider.record.name)
                return .done(probe?.usage, status: "ok")
            } catch is BodyDeadline {
                return .retry("its answer stopped arriving (nothing for \(seconds) s)", timeout: true)
            } catch {
                // Nothing was sent yet: the next provider may still answer.
                return .retry("the answer was cut: \(transport.describe(error))", timeout: false)
            }
        }
        guard let answer else { throw AppError(.badGateway, "no provider answered", code: "upstream_error") }
        return answer
    }

    struct BodyDeadline: Error {}

    /// How long a whole (not streamed) answer may take to start: ten times the provider's
    /// first-byte time, at most ten minutes (the OpenAI SDK's own default).
    static func wholeAnswerSeconds(_ timeoutSeconds: Int) -> Int { min(600, timeoutSeconds * 10) }

    /// When the body's last bytes came, shared by its reader and the watch on it.
    final class LastByte: Sendable {
        let at = Mutex(ContinuousClock.now)
    }

    /// Returns once nothing has happened for `silence` since `last()` (which the reader moves as
    /// bytes arrive); throws when cancelled. The watch of a whole answer's body and of a stream.
    static func untilSilent(for silence: Duration, since last: () -> ContinuousClock.Instant) async throws {
        while true {
            let quiet = ContinuousClock.now - last()
            if quiet >= silence { return }
            try await Task.sleep(for: silence - quiet)
        }
    }

    /// `body` read whole (at most `limit` bytes), or `BodyDeadline` when nothing arrives for
    /// `idle`; then the read is cancelled, which ends the upstream request.
    static func collect(_ body: HTTPClientResponse.Body, limit: Int, idle: Duration) async throws -> ByteBuffer {
        let lastByte = LastByte()
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var collected = ByteBuffer()
                for try await chunk in body {
                    lastByte.at.withLock { $0 = .now }
                    guard collected.readableBytes + chunk.readableBytes <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
                    var chunk = chunk
                    collected.writeBuffer(&chunk)
                }
                return collected
            }
            group.addTask {
                try await untilSilent(for: idle) { lastByte.at.withLock { $0 } }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else { throw BodyDeadline() }
            return body
        }
    }

    /// What became of an answered request once its body was read.
    enum BodyResult: Sendable {
        case done(UpstreamUsage?, status: String)
        /// Nothing reached the client: the next provider is tried.
        case retry(String, timeout: Bool)
    }

    /// Tries the route's providers in order until one answers and `onAnswer` takes its body;
    /// when every one was rate-limited with a short `Retry-After`, waits it out once and tries
    /// again. Throws why they all failed.
    func run(
        _ route: ModelRoute,
        _ request: ChatRequest,
        _ principal: Principal,
        onAnswer: (ModelRoute.Candidate, HTTPClientResponse) async -> BodyResult
    ) async throws {
        let started = ContinuousClock.now
        var failures = Failures()
        for round in 0..<2 {
            if round == 1 {
                // A second round only when every provider asked to wait a little.
                guard failures.limited == failures.reasons.count, let wait = failures.retryAfter.min(), wait <= longestWait else { break }
                failures = Failures()
            }
            let ordered = try await order(route)
            let cooling = health.snapshot()
            failures.skipped = route.candidates.filter { candidate in !ordered.contains { $0.provider.record.id == candidate.provider.record.id } }
                .map { "\($0.provider.record.name) (\(cooling[$0.provider.record.id] ?? "failing"))" }
            for candidate in ordered {
                let provider = candidate.provider.record
                switch await attempt(candidate, request: request, persona: route.persona) {
                case .answered(let response):
                    switch await onAnswer(candidate, response) {
                    case .done(let usage, let status):
                        health.succeeded(provider.id)
                        record(principal, candidate, usage: usage, status: status, started: started)
                        return
                    case .retry(let reason, let timeout):
                        health.failed(provider.id, reason: reason, retryAfter: nil)
                        failures.add(provider.name, reason, retryAfter: nil, timeout: timeout)
                    }
                case .refused(let error):
                    record(principal, candidate, usage: nil, status: "refused", started: started)
                    throw error
                case .failed(let reason, let retryAfter, let timeout):
                    health.failed(provider.id, reason: reason, retryAfter: retryAfter)
                    failures.add(provider.name, reason, retryAfter: retryAfter, timeout: timeout)
                }
                logger.info(
                    "assistant: provider failed over",
                    metadata: ["provider": "\(provider.name)", "reason": "\(failures.reasons.last ?? "")"]
                )
            }
        }
        if let first = route.candidates.first { record(principal, first, usage: nil, status: "failed", started: started) }
        throw failures.error()
    }

    /// Candidates that are not cooling down, in route order; when all are, the one that is free
    /// soonest is tried anyway (after a short Retry-After has passed), so a request never fails
    /// only because an earlier one did.
    func order(_ route: ModelRoute) async throws -> [ModelRoute.Candidate] {
        let now = ContinuousClock.now
        let available = route.candidates.filter { health.isAvailable($0.provider.record.id, now: now) }
        if !available.isEmpty { return available }
        let soonest = route.candidates.min {
            (health.coolingUntil($0.provider.record.id) ?? now) < (health.coolingUntil($1.provider.record.id) ?? now)
        }
        guard let soonest else { return [] }
        if let until = health.coolingUntil(soonest.provider.record.id), until - now <= longestWait, until > now {
            try await Task.sleep(until: until, clock: .continuous)
        }
        return [soonest] + route.candidates.filter { $0.provider.record.id != soonest.provider.record.id }
    }

    enum Outcome: Sendable {
        /// A 2xx response head; the body is still to be read.
        case answered(HTTPClientResponse)
        /// The upstream refused the request as the client's mistake (400, 413, 422…): passed on.
        case refused(AppError)
        case failed(reason: String, retryAfter: Duration?, timeout: Bool)
    }

    func attempt(_ candidate: ModelRoute.Candidate, request: ChatRequest, persona: Persona?) async -> Outcome {
        let provider = candidate.provider
        var upstream = HTTPClientRequest(url: Self.endpoint(provider.record.baseURL, "chat/completions"))
        upstream.method = .POST
        upstream.headers.add(name: "content-type", value: "application/json")
        upstream.headers.add(name: "accept", value: request.stream ? "text/event-stream" : "application/json")
        if let key = provider.key, !key.isEmpty { upstream.headers.add(name: "authorization", value: "Bearer \(key.value)") }
        do {
            upstream.body = .bytes(try request.upstreamBody(model: candidate.model, persona: persona))
        } catch {
            return .refused(AppError.badRequest("the request could not be encoded again: \(error)"))
        }
        // A stream's head and first event come at once; a whole answer's head comes when the
        // model has written all of it, which takes minutes for a long one.
        let wait = request.stream ? provider.record.timeoutSeconds : Self.wholeAnswerSeconds(provider.record.timeoutSeconds)
        let response: HTTPClientResponse
        do {
            let send = transport.send(publicOnly: !provider.record.mayReachPrivate)
            response = try await send(upstream, .seconds(Int64(wait)))
        } catch let error as AppError {
            return .failed(reason: error.detail, retryAfter: nil, timeout: false)
        } catch {
            let timeout = (error as? HTTPClientError) == .deadlineExceeded
            let reason = timeout ? "no answer within \(wait) s" : transport.describe(error)
            return .failed(reason: reason, retryAfter: nil, timeout: timeout)
        }
        let status = Int(response.status.code)
        if (200..<300).contains(status) { return .answered(response) }
        let retryAfter = Self.retryAfter(response.headers)
        switch status {
        case 400, 413, 415, 422:
            // The client's request: another provider would refuse it too. Its message is passed on
            // (OpenAI-compatible servers explain what is wrong), without anything of ours.
            let body = try? await response.body.collect(upTo: 64 << 10)
            let message = body.flatMap { Self.upstreamMessage($0) } ?? "the upstream refused the request (HTTP \(status))"
            return .refused(AppError(HTTPResponse.Status(code: status), message, code: "upstream_refused"))
        default:
            // Drain a little so the connection can be reused; the text stays ours (an upstream's
            // error text may echo part of the key).
            _ = try? await response.body.collect(upTo: 64 << 10)
            let reason = status == 429 ? "rate limited (HTTP 429)" : "HTTP \(status)"
            return .failed(reason: reason, retryAfter: status == 429 ? retryAfter ?? .seconds(1) : retryAfter, timeout: false)
        }
    }

    func record(_ principal: Principal, _ candidate: ModelRoute.Candidate, usage: UpstreamUsage?, status: String, started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        self.usage.record(
            UsageEvent(
                ownerID: principal.userID,
                keyID: principal.keyID,
                providerID: candidate.provider.record.id,
                model: candidate.model,
                promptTokens: usage?.prompt_tokens ?? 0,
                completionTokens: usage?.completion_tokens ?? 0,
                status: status,
                durationMillis: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000,
                at: Timestamp.millis(Date())
            )
        )
    }

    static func endpoint(_ base: String, _ path: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + path
    }

    /// `Retry-After` in seconds (the form LLM upstreams use); an HTTP date is read too.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let value = headers.first(name: "retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(min(seconds, 86_400) * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = formatter.date(from: value) { return .seconds(max(0, Int64(date.timeIntervalSinceNow))) }
        return nil
    }

    static func upstreamMessage(_ body: ByteBuffer) -> String? {
        struct Wrapper: Decodable {
            struct Inner: Decodable { var message: String? }
            var error: Inner?
            var detail: String?
        }
        guard let wrapper = try? JSONDecoder().decode(Wrapper.self, from: Data(buffer: body)) else { return nil }
        return (wrapper.error?.message ?? wrapper.detail).map { String($0.prefix(2000)) }
    }
}

/// Why every provider failed, said once: a 429 when they were all rate-limited (with the
/// shortest Retry-After), a 504 when they all timed out, else a 502 naming each.
struct Failures {
    var reasons: [String] = []
    var retryAfter: [Duration] = []
    var limited = 0
    var timeouts = 0
    /// Providers not tried because they are cooling down after failing, with why.
    var skipped: [String] = []

    mutating func add(_ provider: String, _ reason: String, retryAfter: Duration?, timeout: Bool) {
        reasons.append("\(provider): \(reason)")
        if let retryAfter { self.retryAfter.append(retryAfter) }
        if reason.contains("429") { limited += 1 }
        if timeout { timeouts += 1 }
    }

    func error() -> AppError {
        var list = reasons.isEmpty ? "no provider is available" : reasons.joined(separator: "; ")
        if !skipped.isEmpty { list += "; cooling down after failing: " + skipped.joined(separator: ", ") }
        if limited > 0, limited == reasons.count {
            let wait = retryAfter.min().map { Int($0.components.seconds) + 1 } ?? 1
            return AppError.rateLimited("every provider is rate-limiting: \(list)", retryAfter: wait)
        }
        if timeouts > 0, timeouts == reasons.count {
            return AppError(.gatewayTimeout, "no provider answered in time: \(list)", code: "upstream_timeout")
        }
        return AppError(.badGateway, "every provider failed: \(list)", code: "upstream_error")
    }
}
