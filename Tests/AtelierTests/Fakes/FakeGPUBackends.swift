import AsyncHTTPClient
import Core
import Foundation
import Generation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// What every fake GPU backend shares: a recorded request log, scripted failures (N answers of
/// 503, N cut connections), and a real PNG to hand out.
struct Script: Sendable {
    var failures = 0
    var cuts = 0
    var requests: [(method: String, path: String, authorization: String?, body: Data)] = []

    /// The scripted fault for the next generation request, if any.
    mutating func nextFault() -> Response? {
        if failures > 0 {
            failures -= 1
            return FakeGPU.json(.serviceUnavailable, ["detail": "CUDA out of memory. Tried to allocate 2.00 GiB"])
        }
        if cuts > 0 {
            cuts -= 1
            return FakeGPU.cut()
        }
        return nil
    }
}

enum FakeGPU {
    static let png: Data = PNGEncoder.encode(width: 16, height: 24, rgb: [UInt8](repeating: 200, count: 16 * 24 * 3))

    static func json(_ status: HTTPResponse.Status, _ value: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    /// Promises a body and stops half way: the client sees the connection cut.
    static func cut() -> Response {
        Response(status: .ok, headers: [.contentType: "application/json", .contentLength: "4096"], body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: #"{"images": ["iVBORw0KGgo"#))
            throw CancellationError()
        })
    }

    static func record(_ script: NIOLockedValueBox<Script>, _ request: Request) async throws -> Data {
        let body = Data(buffer: try await request.body.collect(upTo: 32 << 20))
        script.withLockedValue {
            $0.requests.append((request.method.rawValue, request.uri.path, request.headers[.authorization], body))
        }
        return body
    }

    static func object(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }
}

/// AUTOMATIC1111's `/sdapi/v1/*` as its FastAPI app answers: options with `sd_model_checkpoint`
/// ("file [hash]"), sd-models, txt2img/img2img (`images` base64, `parameters`, `info` as a JSON
/// string), progress and interrupt.
final class FakeA1111: Sendable {
    struct State: Sendable {
        var loaded = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
        /// Paths under A1111's checkpoint folder (a subfolder is part of the name, as there).
        var installed = ["v1-5-pruned-emaonly.safetensors", "SDXL/sdxl_base.safetensors"]
        var switches: [String] = []
        var renderTime: Duration = .zero
        var interrupts = 0
        var rendering = false
        /// Renders under way now, and the most seen at once (A1111 runs one at a time).
        var renderingNow = 0
        var mostAtOnce = 0
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer

    private init(server: RunningServer) { self.server = server }

    static func start() async throws -> FakeA1111 {
        let holder = NIOLockedValueBox<FakeA1111?>(nil)
        @Sendable func fake() -> FakeA1111 { holder.withLockedValue { $0! } }
        let router = Router()
        router.get("/sdapi/v1/options") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            return FakeGPU.json(.ok, ["sd_model_checkpoint": fake().state.withLockedValue { $0.loaded }, "samples_format": "png"])
        }
        router.post("/sdapi/v1/options") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            guard let name = body["sd_model_checkpoint"] as? String else { return FakeGPU.json(.ok, NSNull()) }
            // A1111 1.6+ (`set_config`) takes only a checkpoint's own aliases: its title, its
            // path under the folder, or that path without the extension; anything else raises.
            let aliases = fake().state.withLockedValue { $0.installed }.flatMap { file in
                ["\(file) [0123456789]", file, file.replacingOccurrences(of: ".safetensors", with: "")]
            }
            guard aliases.contains(name) else {
                return FakeGPU.json(.internalServerError, ["error": "RuntimeError", "detail": "", "body": "",
                                                           "errors": "model '\(name)' not found"])
            }
            fake().state.withLockedValue {
                $0.switches.append(name)
                $0.loaded = name.hasSuffix("]") ? name : "\(name) [0123456789]"
            }
            return FakeGPU.json(.ok, NSNull())
        }
        router.get("/sdapi/v1/sd-models") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            return FakeGPU.json(.ok, fake().state.withLockedValue { $0.installed }.map { file -> [String: Any] in
                // A1111's model_name is the path with its folders joined by "_", without extension.
                let stem = file.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".safetensors", with: "")
                return ["title": "\(file) [0123456789]", "model_name": stem, "hash": "0123456789", "sha256": NSNull(),
                        "filename": "/stable-diffusion-webui/models/Stable-diffusion/\(file)", "config": NSNull()]
            })
        }
        let render: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            let wait = fake().state.withLockedValue { state -> Duration in
                state.rendering = true
                state.renderingNow += 1
                state.mostAtOnce = max(state.mostAtOnce, state.renderingNow)
                return state.renderTime
            }
            defer { fake().state.withLockedValue { $0.renderingNow -= 1 } }
            let deadline = ContinuousClock.now + wait
            while ContinuousClock.now < deadline, fake().state.withLockedValue({ $0.interrupts }) == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            fake().state.withLockedValue { $0.rendering = false }
            let info: [String: Any] = ["prompt": body["prompt"] ?? "", "seed": body["seed"] ?? -1, "width": body["width"] ?? 512,
                                       "height": body["height"] ?? 512, "sd_model_name": fake().state.withLockedValue { $0.loaded }]
            let infoText = String(decoding: try JSONSerialization.data(withJSONObject: info), as: UTF8.self)
            return FakeGPU.json(.ok, ["images": [FakeGPU.png.base64EncodedString()], "parameters": body, "info": infoText])
        }
        router.post("/sdapi/v1/txt2img", use: render)
        router.post("/sdapi/v1/img2img", use: render)
        router.get("/sdapi/v1/progress") { _, _ in
            let rendering = fake().state.withLockedValue { $0.rendering }
            return FakeGPU.json(.ok, ["progress": rendering ? 0.4 : 0.0, "eta_relative": 1.5,
                                      "state": ["skipped": false, "interrupted": false, "job": "", "job_count": rendering ? 1 : 0,
                                                "sampling_step": rendering ? 8 : 0, "sampling_steps": 20] as [String: Any],
                                      "current_image": NSNull(), "textinfo": NSNull()])
        }
        router.post("/sdapi/v1/interrupt") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            fake().state.withLockedValue { $0.interrupts += 1 }
            return FakeGPU.json(.ok, [:])
        }
        let server = try await RunningServer.start(router)
        let made = FakeA1111(server: server)
        holder.withLockedValue { $0 = made }
        return made
    }

    var url: String { server.baseURL() }
    func stop() async { await server.stop() }
    func bodies(_ path: String) -> [[String: Any]] {
        script.withLockedValue { $0.requests.filter { $0.path == path && $0.method == "POST" }.map(\.body) }.map(FakeGPU.object)
    }
}

/// ComfyUI's server: `/prompt` (prompt_id, number, node_errors; 400 with error + node_errors),
/// `/history/{id}` (empty until done, then outputs and status), `/view`, `/queue`, `/interrupt`,
/// `/upload/image` (a multipart form with `image`, `type`, `overwrite`, `subfolder`; answers
/// name, subfolder and type as ComfyUI's `image_upload` does), and `/ws?clientId=…`: a `status`
/// message on connect, then for the client's prompt `executing` per node, `progress` per step,
/// `executing` with a null node and `execution_success`, as `server.py`/`execution.py` send them.
final class FakeComfyUI: Sendable {
    struct State: Sendable {
        var prompts: [String: Data] = [:]
        /// History polls before a prompt shows as done.
        var pollsUntilDone = 2
        var polls: [String: Int] = [:]
        var failWith: String?
        var refuseWith: String?
        var deleted: [String] = []
        var interrupts = 0
        /// Uploaded files by name, and the form's text fields of the last upload.
        var uploads: [String: Data] = [:]
        var uploadFields: [String: String] = [:]
        /// `/ws`: whether upgrades are accepted, the clients seen, the sampling steps it reports
        /// (with `stepTime` between them), and the prompts it has reported done (then `/history`
        /// shows them as done whatever `pollsUntilDone` says).
        var webSocket = true
        var socketClients: [String] = []
        var stepTime: Duration = .milliseconds(10)
        var finishedOnSocket: Set<String> = []
        var clientOfPrompt: [String: String] = [:]
        /// Holds `/prompt`'s answer until the socket has reported the prompt done (a prompt that
        /// ComfyUI finishes from its cache before the client has read the answer).
        var answerAfterFinish = false
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer

    private init(server: RunningServer) { self.server = server }

    /// The parts of a multipart/form-data body: name → (filename, bytes).
    static func formParts(_ body: Data, contentType: String) -> [String: (filename: String?, data: Data)] {
        guard let boundary = contentType.components(separatedBy: "boundary=").last, contentType.hasPrefix("multipart/form-data") else { return [:] }
        let delimiter = Data("--\(boundary)".utf8)
        var parts: [String: (filename: String?, data: Data)] = [:]
        var rest = body[...]
        while let start = rest.range(of: delimiter) {
            rest = rest[start.upperBound...]
            guard let end = rest.range(of: delimiter) else { break }
            var part = rest[..<end.lowerBound]
            guard part.starts(with: Data("\r\n".utf8)), let split = part.range(of: Data("\r\n\r\n".utf8)) else { continue }
            let headers = String(decoding: part[part.startIndex..<split.lowerBound], as: UTF8.self)
            part = part[split.upperBound...]
            if part.suffix(2) == Data("\r\n".utf8) { part = part.dropLast(2) }
            func quoted(_ key: String) -> String? {
                guard let range = headers.range(of: "\(key)=\"") else { return nil }
                return String(headers[range.upperBound...].prefix { $0 != "\"" })
            }
            if let name = quoted("name") { parts[name] = (quoted("filename"), Data(part)) }
        }
        return parts
    }

    static func start() async throws -> FakeComfyUI {
        let holder = NIOLockedValueBox<FakeComfyUI?>(nil)
        @Sendable func fake() -> FakeComfyUI { holder.withLockedValue { $0! } }
        let router = Router()
        router.post("/prompt") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            if let refusal = fake().state.withLockedValue({ $0.refuseWith }) {
                return FakeGPU.json(.badRequest, [
                    "error": ["type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": [:]] as [String: Any],
                    "node_errors": ["4": ["errors": [["type": "value_not_in_list", "message": "Value not in list", "details": refusal, "extra_info": [:]] as [String: Any]],
                                          "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"] as [String: Any]],
                ])
            }
            let id = UUID().uuidString.lowercased()
            let graph = try JSONSerialization.data(withJSONObject: body["prompt"] ?? [:])
            let number = fake().state.withLockedValue { state -> Int in
                state.prompts[id] = graph
                state.clientOfPrompt[id] = body["client_id"] as? String
                return state.prompts.count
            }
            if fake().state.withLockedValue({ $0.answerAfterFinish }) {
                for _ in 0..<500 where !fake().state.withLockedValue({ $0.finishedOnSocket.contains(id) }) {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            return FakeGPU.json(.ok, ["prompt_id": id, "number": number, "node_errors": [:]])
        }
        router.get("/history/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            let (done, failure) = fake().state.withLockedValue { state -> (Bool, String?) in
                state.polls[id, default: 0] += 1
                let done = state.polls[id]! > state.pollsUntilDone || state.finishedOnSocket.contains(id)
                return (state.prompts[id] != nil && done, state.failWith)
            }
            guard done else { return FakeGPU.json(.ok, [:]) }
            if let failure {
                return FakeGPU.json(.ok, [id: [
                    "prompt": [], "outputs": [:],
                    "status": ["status_str": "error", "completed": false, "messages": [
                        ["execution_start", ["prompt_id": id, "timestamp": 1]],
                        ["execution_error", ["prompt_id": id, "node_id": "3", "node_type": "KSampler", "exception_message": failure,
                                             "exception_type": "torch.OutOfMemoryError", "traceback": []] as [String: Any]],
                    ]] as [String: Any],
                ] as [String: Any]])
            }
            return FakeGPU.json(.ok, [id: [
                "prompt": [0, id, [:], [:], ["9"]],
                "outputs": ["9": ["images": [["filename": "atelier_00001_.png", "subfolder": "", "type": "output"]]]],
                "status": ["status_str": "success", "completed": true, "messages": [["execution_success", ["prompt_id": id]]]] as [String: Any],
            ] as [String: Any]])
        }
        router.get("/view") { request, _ in
            guard request.uri.queryParameters.get("filename") == "atelier_00001_.png", request.uri.queryParameters.get("type") == "output" else {
                return Response(status: .notFound)
            }
            return Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(data: FakeGPU.png)))
        }
        router.post("/queue") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            fake().state.withLockedValue { $0.deleted += body["delete"] as? [String] ?? [] }
            return FakeGPU.json(.ok, [:])
        }
        router.post("/interrupt") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            fake().state.withLockedValue { $0.interrupts += 1 }
            return FakeGPU.json(.ok, [:])
        }
        router.post("/upload/image") { request, _ in
            let body = try await FakeGPU.record(fake().script, request)
            let parts = formParts(body, contentType: request.headers[.contentType] ?? "")
            guard let image = parts["image"], let filename = image.filename else { return Response(status: .badRequest) }
            let fields = parts.filter { $0.value.filename == nil }.mapValues { String(decoding: $0.data, as: UTF8.self) }
            fake().state.withLockedValue {
                $0.uploads[filename] = image.data
                $0.uploadFields = fields
            }
            return FakeGPU.json(.ok, ["name": filename, "subfolder": fields["subfolder"] ?? "", "type": fields["type"] ?? "input"])
        }
        router.get("/system_stats") { _, _ in
            FakeGPU.json(.ok, ["system": ["os": "posix", "comfyui_version": "0.3.40"], "devices": []] as [String: Any])
        }
        let server = try await RunningServer.start(router, server: .http1WebSocketUpgrade { request, _, _ in
            let path = request.path ?? ""
            guard path.hasPrefix("/ws"), fake().state.withLockedValue({ $0.webSocket }),
                  let client = URLComponents(string: path)?.queryItems?.first(where: { $0.name == "clientId" })?.value
            else { return .dontUpgrade }
            return .upgrade([:]) { _, outbound, _ in try await fake().runSocket(client: client, outbound: outbound) }
        })
        let made = FakeComfyUI(server: server)
        holder.withLockedValue { $0 = made }
        return made
    }

    /// One client's socket: waits for a prompt it queued, then reports it step by step.
    func runSocket(client: String, outbound: WebSocketOutboundWriter) async throws {
        func send(_ type: String, _ data: [String: Any]) async throws {
            let text = String(decoding: try JSONSerialization.data(withJSONObject: ["type": type, "data": data]), as: UTF8.self)
            try await outbound.write(.text(text))
        }
        state.withLockedValue { $0.socketClients.append(client) }
        try await send("status", ["status": ["exec_info": ["queue_remaining": 0]], "sid": client])
        var reported: Set<String> = []
        while !Task.isCancelled {
            let next = state.withLockedValue { state in
                state.clientOfPrompt.first { $0.value == client && !reported.contains($0.key) }.map { ($0.key, state.prompts[$0.key]) }
            }
            guard let (prompt, graph) = next else {
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            reported.insert(prompt)
            let steps = ((FakeGPU.object(graph ?? Data())["3"] as? [String: Any])?["inputs"] as? [String: Any])?["steps"] as? Int ?? 20
            try await send("executing", ["node": "3", "display_node": "3", "prompt_id": prompt])
            for step in 1...steps {
                try await Task.sleep(for: state.withLockedValue { $0.stepTime })
                try await send("progress", ["value": step, "max": steps, "prompt_id": prompt, "node": "3"])
                if step == steps / 2 {
                    // Another client's prompt, announced to everyone, ending: not this job's.
                    try await send("progress", ["value": steps, "max": steps, "prompt_id": "someone-else", "node": "3"])
                    try await send("executing", ["node": NSNull(), "prompt_id": "someone-else"])
                }
            }
            state.withLockedValue { _ = $0.finishedOnSocket.insert(prompt) }
            try await send("executing", ["node": NSNull(), "prompt_id": prompt])
            try await send("execution_success", ["prompt_id": prompt, "timestamp": 1_764_000_000_000])
        }
    }

    var url: String { server.baseURL() }
    func stop() async { await server.stop() }
    func graphs() -> [[String: Any]] { state.withLockedValue { Array($0.prompts.values) }.map(FakeGPU.object) }
}

/// A RunPod serverless endpoint under `/v2/{endpoint}`: `/run` → IN_QUEUE, `/status/{id}` moving
/// through IN_PROGRESS to COMPLETED (output as RunPod's SDXL worker writes it), or FAILED /
/// TIMED_OUT when scripted; `/cancel/{id}`, `/health`. Requests need `Authorization: Bearer KEY`.
final class FakeRunPod: Sendable {
    struct State: Sendable {
        var jobs: [String: Int] = [:]
        /// Status polls before a job completes; `Int.max` keeps it running.
        var pollsUntilDone = 2
        var outcome = "COMPLETED"
        var cancelled: [String] = []
        var inputs: [Data] = []
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer
    let apiKey: String

    private init(server: RunningServer, apiKey: String) {
        self.server = server
        self.apiKey = apiKey
    }

    static func start(apiKey: String = "rp_test_key_123") async throws -> FakeRunPod {
        let holder = NIOLockedValueBox<FakeRunPod?>(nil)
        @Sendable func fake() -> FakeRunPod { holder.withLockedValue { $0! } }
        let router = Router()
        @Sendable func authorized(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(fake().apiKey)" }
        router.post("/v2/{endpoint}/run") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            let id = "\(UUID().uuidString.lowercased())-u1"
            let input = try JSONSerialization.data(withJSONObject: body["input"] ?? [:])
            fake().state.withLockedValue {
                $0.jobs[id] = 0
                $0.inputs.append(input)
            }
            return FakeGPU.json(.ok, ["id": id, "status": "IN_QUEUE"])
        }
        router.get("/v2/{endpoint}/status/{id}") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            let id = context.parameters.get("id") ?? ""
            let (polls, limit, outcome, cancelled) = fake().state.withLockedValue { state -> (Int?, Int, String, Bool) in
                state.jobs[id]? += 1
                return (state.jobs[id], state.pollsUntilDone, state.outcome, state.cancelled.contains(id))
            }
            guard let polls else { return FakeGPU.json(.notFound, ["error": "request does not exist"]) }
            if cancelled { return FakeGPU.json(.ok, ["id": id, "status": "CANCELLED"]) }
            if polls == 1 { return FakeGPU.json(.ok, ["id": id, "status": "IN_QUEUE", "delayTime": 120]) }
            if polls <= limit { return FakeGPU.json(.ok, ["id": id, "status": "IN_PROGRESS", "delayTime": 812, "workerId": "h8lqoer1tzoqpx"]) }
            switch outcome {
            case "FAILED":
                return FakeGPU.json(.ok, ["id": id, "status": "FAILED", "delayTime": 812, "executionTime": 2210,
                                          "error": "{\"error_type\": \"<class 'ValueError'>\", \"error_message\": \"prompt is too long for the tokenizer\"}"])
            case "TIMED_OUT":
                return FakeGPU.json(.ok, ["id": id, "status": "TIMED_OUT", "delayTime": 812])
            default:
                return FakeGPU.json(.ok, [
                    "id": id, "status": "COMPLETED", "delayTime": 812, "executionTime": 4120, "workerId": "h8lqoer1tzoqpx",
                    "output": ["images": ["data:image/png;base64,\(FakeGPU.png.base64EncodedString())"],
                               "image_url": "data:image/png;base64,\(FakeGPU.png.base64EncodedString())", "seed": 42] as [String: Any],
                ])
            }
        }
        router.post("/v2/{endpoint}/cancel/{id}") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            let id = context.parameters.get("id") ?? ""
            fake().state.withLockedValue { $0.cancelled.append(id) }
            return FakeGPU.json(.ok, ["id": id, "status": "CANCELLED"])
        }
        router.get("/v2/{endpoint}/health") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            return FakeGPU.json(.ok, ["jobs": ["completed": 1, "failed": 0, "inProgress": 0, "inQueue": 0, "retried": 0],
                                      "workers": ["idle": 1, "initializing": 0, "ready": 1, "running": 0, "throttled": 0, "unhealthy": 0]])
        }
        let server = try await RunningServer.start(router)
        let made = FakeRunPod(server: server, apiKey: apiKey)
        holder.withLockedValue { $0 = made }
        return made
    }

    var endpoint: String { "\(server.baseURL())/v2/ep-test" }
    func stop() async { await server.stop() }
}

/// Replicate's predictions API: create (official-model route or by version), get through
/// `urls.get`, cancel through `urls.cancel`; output is a list of file URLs on another path.
final class FakeReplicate: Sendable {
    struct State: Sendable {
        var predictions: [String: Int] = [:]
        var pollsUntilDone = 2
        var failWith: String?
        /// An end status with no other meaning to clients (as Replicate has added before).
        var endWith: String?
        var canceled: [String] = []
        var created: [Data] = []
        /// GETs of a prediction (polls).
        var reads = 0
        /// Webhook deliveries: the HTTP status the receiver answered each one with.
        var deliveries: [UInt] = []
        /// Sign webhooks with a different secret than the one served (a forged delivery).
        var forgeSignatures = false
        /// A reverse proxy in front of the receiver: webhook URLs starting with `.public` go to `.local`.
        var proxy: (public: String, local: String)?
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer
    let token: String
    /// The account's webhook signing secret, as `GET /v1/webhooks/default/secret` serves it.
    let signingSecret = "whsec_" + Data("atelier-fake-replicate-signing-key".utf8).base64EncodedString()

    private init(server: RunningServer, token: String) {
        self.server = server
        self.token = token
    }

    static func start(token: String = "r8_test_token") async throws -> FakeReplicate {
        let holder = NIOLockedValueBox<FakeReplicate?>(nil)
        @Sendable func fake() -> FakeReplicate { holder.withLockedValue { $0! } }
        let router = Router()
        @Sendable func authorized(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(fake().token)" }
        @Sendable func prediction(_ id: String, status: String, output: Any = NSNull(), error: Any = NSNull(), logs: String = "") -> [String: Any] {
            let base = fake().server.baseURL()
            return ["id": id, "model": "stability-ai/sdxl", "version": "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc",
                    "input": [:], "logs": logs, "output": output, "error": error, "status": status, "data_removed": false,
                    "created_at": "2026-11-25T21:00:00.000Z",
                    "completed_at": ["starting", "processing"].contains(status) ? NSNull() : "2026-11-25T21:00:04.000Z", "urls": ["get": "\(base)/v1/predictions/\(id)",
                                                                          "cancel": "\(base)/v1/predictions/\(id)/cancel",
                                                                          "stream": "\(base)/v1/stream/\(id)"]]
        }
        let create: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await FakeGPU.record(fake().script, request)
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401]) }
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            let id = String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(26))
            fake().state.withLockedValue {
                $0.predictions[id] = 0
                $0.created.append(body)
            }
            // With a webhook, the prediction completes on its own after a moment and Replicate
            // POSTs it there, signed (Standard Webhooks), once it is `completed`.
            if let webhook = FakeGPU.object(body)["webhook"] as? String {
                let done = prediction(id, status: "succeeded", output: ["\(fake().server.baseURL(host: "localhost"))/files/\(id)/out-0.png"])
                Task {
                    try? await Task.sleep(for: .milliseconds(100))
                    fake().state.withLockedValue { $0.predictions[id] = Int.max / 2 }
                    await fake().deliver(done, to: webhook)
                }
            }
            return FakeGPU.json(.created, prediction(id, status: "starting"))
        }
        router.post("/v1/models/{owner}/{name}/predictions", use: create)
        router.post("/v1/predictions", use: create)
        router.get("/v1/predictions/{id}") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            let id = context.parameters.get("id") ?? ""
            let (polls, limit, failure, canceled, end) = fake().state.withLockedValue { state -> (Int?, Int, String?, Bool, String?) in
                state.predictions[id]? += 1
                state.reads += 1
                return (state.predictions[id], state.pollsUntilDone, state.failWith, state.canceled.contains(id), state.endWith)
            }
            guard let polls else { return FakeGPU.json(.notFound, ["detail": "Not found."]) }
            if canceled { return FakeGPU.json(.ok, prediction(id, status: "canceled")) }
            if polls <= limit { return FakeGPU.json(.ok, prediction(id, status: "processing", logs: "Using seed: 42\n 50%|█████     | 25/50 [00:02<00:02, 10.1it/s]")) }
            if let failure { return FakeGPU.json(.ok, prediction(id, status: "failed", error: failure)) }
            if let end { return FakeGPU.json(.ok, prediction(id, status: end)) }
            return FakeGPU.json(.ok, prediction(id, status: "succeeded", output: ["\(fake().server.baseURL(host: "localhost"))/files/\(id)/out-0.png"]))
        }
        router.post("/v1/predictions/{id}/cancel") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            let id = context.parameters.get("id") ?? ""
            fake().state.withLockedValue { $0.canceled.append(id) }
            return FakeGPU.json(.ok, prediction(id, status: "canceled"))
        }
        router.get("/v1/webhooks/default/secret") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            return FakeGPU.json(.ok, ["key": fake().signingSecret])
        }
        router.get("/v1/account") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            return FakeGPU.json(.ok, ["type": "user", "username": "atelier", "name": "Atelier", "github_url": NSNull()])
        }
        router.get("/files/{id}/{file}") { request, _ in
            // Delivery URLs are public: a token sent here would be a leak.
            guard request.headers[.authorization] == nil else { return Response(status: .badRequest) }
            return Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(data: FakeGPU.png)))
        }
        let server = try await RunningServer.start(router)
        let made = FakeReplicate(server: server, token: token)
        holder.withLockedValue { $0 = made }
        return made
    }

    var url: String { "\(server.baseURL())/v1" }
    func stop() async { await server.stop() }

    /// POSTs a prediction to a webhook URL as Replicate does, and records the receiver's status.
    func deliver(_ prediction: [String: Any], to url: String) async {
        let body = (try? JSONSerialization.data(withJSONObject: prediction)) ?? Data()
        let forged = state.withLockedValue { $0.forgeSignatures }
        let key = StandardWebhooks.key(fromSecret: forged ? "whsec_" + Data("someone else".utf8).base64EncodedString() : signingSecret)!
        let id = "msg_" + UUID().uuidString.lowercased()
        let timestamp = Int(Date().timeIntervalSince1970)
        var target = url
        if let proxy = state.withLockedValue({ $0.proxy }), url.hasPrefix(proxy.public) {
            target = proxy.local + url.dropFirst(proxy.public.count)
        }
        var request = HTTPClientRequest(url: target)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: StandardWebhooks.sign(id: id, timestamp: timestamp, body: body, key: key))
        request.body = .bytes(ByteBuffer(data: body))
        let status = (try? await HTTPClient.shared.execute(request, timeout: .seconds(10)))?.status.code ?? 0
        state.withLockedValue { $0.deliveries.append(status) }
    }
}
