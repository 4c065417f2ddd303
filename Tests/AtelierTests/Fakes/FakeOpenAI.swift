import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// An OpenAI-compatible upstream as vLLM, Ollama, OpenAI or OpenRouter answer: `GET /v1/models`,
/// `POST /v1/chat/completions` (whole or streamed, with tool calls when the request offers tools),
/// and the speech routes (`/v1/audio/speech`, `/v1/audio/transcriptions`). Requests need
/// `Authorization: Bearer KEY`. It records every request and can be told to misbehave: fail with a
/// status, cut the connection, hang, or wait before answering, for good or for the next N requests.
final class FakeOpenAI: Sendable {
    enum Behavior: Sendable, Equatable {
        case ok
        /// Answers that status with an OpenAI error body, and `Retry-After` when given.
        case status(Int, retryAfter: Int? = nil)
        /// Sends that many stream events (or half of a whole body) and drops the connection.
        case cutAfter(chunks: Int)
        /// Holds the request unanswered until the fake stops.
        case hang
        /// Waits before the first byte (the response head), then answers normally.
        case firstByteDelay(ms: Int)
        /// Sends the stream's head and a comment (`: PROCESSING`, as OpenRouter does), then
        /// nothing until the fake stops.
        case stallAfterComment
        /// A whole (not streamed) answer's head and half its body, then nothing until the fake stops.
        case stallBody
        /// That many stream events, then nothing until the fake stops (the connection stays open).
        case stallAfter(chunks: Int)
        /// That many stream events, then a clean end of the response, without `[DONE]`.
        case endAfter(chunks: Int)
    }

    struct Call: Sendable {
        var method: String
        var path: String
        var headers: HTTPFields
        var body: Data
        /// Text fields of a multipart/form-data body, and its file parts.
        var form: [String: String]
        var files: [String: Data]
        /// When it arrived: retry tests check a retry came no earlier than `Retry-After` allowed.
        var at: ContinuousClock.Instant

        var authorization: String? { headers[.authorization] }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    struct State: Sendable {
        var calls: [Call] = []
        var behavior = Behavior.ok
        /// Requests left before `behavior` goes back to `.ok`; nil keeps it until changed.
        var behaviorLeft: Int?
        /// The chat answer; nil answers "Echo: " and the last user message.
        var answer: String?
        var transcript = "Hello from the fake transcriber."
        /// The pause between two stream events, so tests can see them pass through one by one.
        var chunkPause = Duration.zero
        /// Set by `stop`: a hanging request gives up, or the graceful shutdown would wait for it.
        var stopping = false

        mutating func nextBehavior() -> Behavior {
            let current = behavior
            if let left = behaviorLeft {
                behaviorLeft = left > 1 ? left - 1 : nil
                if left <= 1 { behavior = .ok }
            }
            return current
        }
    }

    let state = NIOLockedValueBox(State())
    let models: [String]
    let apiKey: String
    private let serverBox = NIOLockedValueBox<RunningServer?>(nil)
    var server: RunningServer { serverBox.withLockedValue { $0! } }
    /// `http://127.0.0.1:PORT/v1`, as clients of OpenAI-compatible servers are configured.
    var baseURL: String { "\(server.baseURL())/v1" }

    private init(models: [String], apiKey: String) {
        self.models = models
        self.apiKey = apiKey
    }

    static func start(models: [String], apiKey: String, answer: String? = nil) async throws -> FakeOpenAI {
        let fake = FakeOpenAI(models: models, apiKey: apiKey)
        fake.state.withLockedValue { $0.answer = answer }
        let router = Router()
        router.get("/v1/models") { request, _ in try await fake.serve(request) { _ in OpenAIWire.models(fake.models) } }
        router.post("/v1/chat/completions") { request, _ in try await fake.serve(request) { fake.chat($0) } }
        router.post("/v1/audio/speech") { request, _ in try await fake.serve(request) { fake.speech($0) } }
        router.post("/v1/audio/transcriptions") { request, _ in try await fake.serve(request) { fake.transcription($0) } }
        let server = try await RunningServer.start(router)
        fake.serverBox.withLockedValue { $0 = server }
        return fake
    }

    func stop() async {
        state.withLockedValue { $0.stopping = true }
        await server.stop()
    }

    /// Misbehaves from the next request on: for good, or for the next `times` requests only.
    func behave(_ behavior: Behavior, times: Int? = nil) {
        state.withLockedValue {
            $0.behavior = (times ?? 1) > 0 ? behavior : .ok
            $0.behaviorLeft = times
        }
    }

    var calls: [Call] { state.withLockedValue { $0.calls } }
    var count: Int { state.withLockedValue { $0.calls.count } }
    /// The requests to one path, given whole (`/v1/chat/completions`) or under `/v1` (`chat/completions`).
    func calls(_ path: String) -> [Call] {
        let full = path.hasPrefix("/v1/") ? path : "/v1/" + path.drop { $0 == "/" }
        return calls.filter { $0.path == full }
    }

    var answer: String? {
        get { state.withLockedValue { $0.answer } }
        set { state.withLockedValue { $0.answer = newValue } }
    }
    var transcript: String {
        get { state.withLockedValue { $0.transcript } }
        set { state.withLockedValue { $0.transcript = newValue } }
    }
    var chunkPause: Duration {
        get { state.withLockedValue { $0.chunkPause } }
        set { state.withLockedValue { $0.chunkPause = newValue } }
    }

    /// Records the request, checks its key, then answers as the current behavior says.
    private func serve(_ request: Request, _ reply: @Sendable (Call) -> OpenAIReply) async throws -> Response {
        let contentType = request.headers[.contentType] ?? ""
        let body = Data(buffer: try await request.body.collect(upTo: 64 << 20))
        var form: [String: String] = [:]
        var files: [String: Data] = [:]
        for (name, part) in MultipartParts.parse(body, contentType: contentType) {
            if part.filename != nil { files[name] = part.data } else { form[name] = String(decoding: part.data, as: UTF8.self) }
        }
        let call = Call(
            method: request.method.rawValue,
            path: request.uri.path,
            headers: request.headers,
            body: body,
            form: form,
            files: files,
            at: .now
        )
        state.withLockedValue { $0.calls.append(call) }
        guard call.authorization == "Bearer \(apiKey)" else { return render(OpenAIWire.failure(401)) }
        let (behavior, pause) = state.withLockedValue { ($0.nextBehavior(), $0.chunkPause) }
        switch behavior {
        case .ok:
            return render(reply(call), pause: pause)
        case .status(let status, let retryAfter):
            var response = render(OpenAIWire.failure(status))
            if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            return response
        case .cutAfter(let chunks):
            return render(reply(call), pause: pause, cutAfter: chunks)
        case .firstByteDelay(let ms):
            try await Task.sleep(for: .milliseconds(ms))
            return render(reply(call), pause: pause)
        case .stallAfterComment:
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { [state] writer in
                    try await writer.write(ByteBuffer(string: ": PROCESSING\n\n"))
                    while !Task.isCancelled, !state.withLockedValue({ $0.stopping }) { try await Task.sleep(for: .milliseconds(20)) }
                    try await writer.finish(nil)
                }
            )
        case .stallAfter(let chunks):
            guard case .events(let events) = reply(call) else { return render(reply(call)) }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { [state] writer in
                    for event in events.prefix(chunks) { try await writer.write(ByteBuffer(data: event)) }
                    while !Task.isCancelled, !state.withLockedValue({ $0.stopping }) { try await Task.sleep(for: .milliseconds(20)) }
                    throw ConnectionCut()
                }
            )
        case .endAfter(let chunks):
            guard case .events(let events) = reply(call) else { return render(reply(call)) }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    for event in events.prefix(chunks) { try await writer.write(ByteBuffer(data: event)) }
                    try await writer.finish(nil)
                }
            )
        case .stallBody:
            guard case .body(let status, let contentType, let data) = reply(call) else { return render(reply(call)) }
            return Response(
                status: .init(code: status),
                headers: [.contentType: contentType, .contentLength: String(data.count)],
                body: ResponseBody { [state] writer in
                    try await writer.write(ByteBuffer(data: data.prefix(data.count / 2)))
                    while !Task.isCancelled, !state.withLockedValue({ $0.stopping }) { try await Task.sleep(for: .milliseconds(20)) }
                    throw ConnectionCut()
                }
            )
        case .hang:
            // Hummingbird does not cancel a handler when its client leaves, so the loop also
            // watches `stopping`, which `stop` sets before the server's graceful shutdown.
            while !Task.isCancelled, !state.withLockedValue({ $0.stopping }) { try? await Task.sleep(for: .milliseconds(20)) }
            return render(OpenAIWire.error(503, "The fake upstream stopped while holding this request", type: "server_error", code: nil))
        }
    }

    /// Drops the connection: Hummingbird has no call for that, but a body writer that throws
    /// makes it close the channel without ending the response (no `[DONE]`, no last chunk).
    private struct ConnectionCut: Error {}

    private func render(_ reply: OpenAIReply, pause: Duration = .zero, cutAfter: Int? = nil) -> Response {
        switch reply {
        case .body(let status, let contentType, let data):
            guard cutAfter != nil else {
                return Response(
                    status: .init(code: status),
                    headers: [.contentType: contentType],
                    body: .init(byteBuffer: ByteBuffer(data: data))
                )
            }
            // The head promises the whole body, so the client sees a short body and not a
            // complete smaller one.
            return Response(
                status: .init(code: status),
                headers: [.contentType: contentType, .contentLength: String(data.count)],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(data: data.prefix(data.count / 2)))
                    throw ConnectionCut()
                }
            )
        case .events(let events):
            // Never as far as `[DONE]`: a cut stream must look unfinished.
            let limit = cutAfter.map { min(max($0, 0), events.count - 1) }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    for (index, event) in events.enumerated() {
                        if index == limit { throw ConnectionCut() }
                        if index > 0, pause > .zero { try await Task.sleep(for: pause) }
                        // Each write goes out (and is flushed) on its own, as a real server streams.
                        try await writer.write(ByteBuffer(data: event))
                    }
                    try await writer.finish(nil)
                }
            )
        }
    }

    private func chat(_ call: Call) -> OpenAIReply {
        guard let request = try? JSONSerialization.jsonObject(with: call.body) as? [String: Any] else {
            return OpenAIWire.error(400, "We could not parse the JSON body of your request.", type: "invalid_request_error", code: nil)
        }
        guard let model = request["model"] as? String, models.contains(model) else {
            let asked = request["model"] as? String ?? ""
            return OpenAIWire.error(
                404,
                "The model `\(asked)` does not exist or you do not have access to it.",
                type: "invalid_request_error",
                code: "model_not_found",
                param: "model"
            )
        }
        guard let messages = request["messages"] as? [[String: Any]], !messages.isEmpty else {
            return OpenAIWire.error(400, "'messages' must be a non-empty array", type: "invalid_request_error", code: nil, param: "messages")
        }
        let lastUser = messages.last { $0["role"] as? String == "user" }.map(OpenAIWire.text(of:)) ?? ""
        let answer = state.withLockedValue { $0.answer } ?? "Echo: \(lastUser)"
        // Numbered by arrival, so ids are the same on every run.
        let id = "chatcmpl-fake\(count)"
        return OpenAIWire.completion(request, answer: answer, id: id)
    }

    /// Always a WAV (or raw samples for `pcm`): tests have no MP3 or Opus encoder, and a client
    /// that must play the answer asks for `wav`.
    private func speech(_ call: Call) -> OpenAIReply {
        guard let input = call.json["input"] as? String, !input.isEmpty else {
            return OpenAIWire.error(400, "'input' must be a non-empty string", type: "invalid_request_error", code: nil, param: "input")
        }
        let wav = OpenAIWire.wav()
        if call.json["response_format"] as? String == "pcm" { return .body(status: 200, contentType: "audio/pcm", Data(wav.dropFirst(44))) }
        return .body(status: 200, contentType: "audio/wav", wav)
    }

    private func transcription(_ call: Call) -> OpenAIReply {
        guard call.files["file"] != nil else {
            return OpenAIWire.error(400, "Missing required parameter: 'file'.", type: "invalid_request_error", code: nil, param: "file")
        }
        guard call.form["model"] != nil else {
            return OpenAIWire.error(400, "Missing required parameter: 'model'.", type: "invalid_request_error", code: nil, param: "model")
        }
        let text = transcript
        switch call.form["response_format"] ?? "json" {
        case "text": return .body(status: 200, contentType: "text/plain; charset=utf-8", Data(text.utf8))
        case "verbose_json":
            return OpenAIWire.json(["task": "transcribe", "language": call.form["language"] ?? "english", "duration": 0.2, "text": text])
        default: return OpenAIWire.json(["text": text])
        }
    }
}
