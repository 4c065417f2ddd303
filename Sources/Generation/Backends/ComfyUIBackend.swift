import AsyncHTTPClient
import Core
import Crypto
import Foundation
import Logging

/// ComfyUI: queues the worker's workflow template on `/prompt`, follows `/history/{id}` until it
/// has outputs or an error, and fetches the image from `/view`. For img2img the source picture is
/// first uploaded to `/upload/image` and the img2img template loads it. Progress comes from `/ws`
/// (`ComfyEvents`), which also ends the wait for the next poll when the prompt is done. Cancel
/// deletes the prompt from `/queue` and calls `/interrupt`.
package struct ComfyUIBackend: GenerationBackend {
    package let name: String
    let http: BackendHTTP
    let workflow: ComfyWorkflow
    let img2imgWorkflow: ComfyWorkflow
    let defaultCheckpoint: String?
    let pollInterval: Duration
    let timeout: Duration
    let logger = Logger(label: "atelier.comfyui")

    package init(
        name: String,
        base: URL,
        client: BackendTransport,
        token: String?,
        workflow: ComfyWorkflow,
        img2imgWorkflow: ComfyWorkflow = .standardImg2Img,
        defaultCheckpoint: String?,
        pollInterval: Duration = .milliseconds(500),
        timeout: Duration = .seconds(1800)
    ) {
        self.name = name
        self.http = BackendHTTP(
            client: client,
            backend: name,
            base: base,
            headers: token.map { [("Authorization", "Bearer \($0)")] } ?? []
        )
        self.workflow = workflow
        self.img2imgWorkflow = img2imgWorkflow
        self.defaultCheckpoint = defaultCheckpoint
        self.pollInterval = pollInterval
        self.timeout = timeout
    }

    package func check() async throws {
        _ = try await http.expectOK(.GET, "/system_stats", timeout: .seconds(10), what: "reading system stats")
    }

    /// ComfyUI keeps whatever it used last; the worker remembers that itself.
    package func loadedModel() async throws -> String? { nil }

    package func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
        var uploaded: String?
        if let source = job.params.init_image {
            guard let picture = ImageData.decode(source) else {
                throw BackendError(backend: name, message: "init_image is not base64 image data", retryable: false)
            }
            uploaded = try await upload(picture)
        }
        let graph: [String: Any]
        do {
            graph = try (uploaded == nil ? workflow : img2imgWorkflow)
                .render(job, checkpoint: job.params.model ?? defaultCheckpoint, initImage: uploaded)
        } catch {
            throw BackendError(backend: name, message: "\(error)", retryable: false)
        }
        // The socket is open before the prompt is queued, so no early progress is missed.
        let socket = ComfyEvents()
        await socket.start(base: http.base, headers: http.headers, policy: http.client.policy, logger: logger, progress: progress)
        defer { socket.stop() }
        let queued = try await http.send(.POST, "/prompt", json: ["prompt": graph, "client_id": socket.clientID], timeout: .seconds(60))
        guard (200..<300).contains(queued.status) else {
            if queued.status == 400 {
                throw BackendError(backend: name, message: "the workflow was refused: \(Self.promptError(queued.body))", retryable: false)
            }
            throw http.failure(queued, what: "queueing the workflow")
        }
        guard let promptID = (try http.object(queued, what: "queueing the workflow"))["prompt_id"] as? String else {
            throw BackendError(backend: name, message: "queueing the workflow: no prompt_id in the answer", retryable: false)
        }
        await socket.follow(promptID, progress: progress)
        let http = self.http
        return try await withTaskCancellationHandler {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                // Woken early when the socket says the prompt is done.
                await socket.done.wait(timeout: pollInterval)
                try Task.checkCancellation()
                let reply = try await http.expectOK(.GET, "/history/\(promptID)", timeout: .seconds(30), what: "reading the history")
                guard let entry = (reply.json as? [String: Any])?[promptID] as? [String: Any] else { continue }
                let status = entry["status"] as? [String: Any]
                if status?["status_str"] as? String == "error" {
                    throw BackendError(backend: name, message: "the workflow failed: \(Self.executionError(status))", retryable: false)
                }
                guard let image = Self.firstImage(entry["outputs"] as? [String: Any] ?? [:]) else {
                    if status?["completed"] as? Bool == true {
                        throw BackendError(backend: name, message: "the workflow finished without an image (add a SaveImage node)", retryable: false)
                    }
                    continue
                }
                progress(1)
                var query = URLComponents()
                query.queryItems = [
                    .init(name: "filename", value: image.filename), .init(name: "subfolder", value: image.subfolder),
                    .init(name: "type", value: image.type),
                ]
                let file = try await http.expectOK(
                    .GET,
                    "/view?\(query.percentEncodedQuery ?? "")",
                    timeout: .seconds(120),
                    what: "fetching the image"
                )
                return GeneratedImage(png: file.body, requested: job.params)
            }
            throw BackendError(backend: name, message: "no result after \(timeout)", retryable: true)
        } onCancel: {
            Task {
                _ = try? await http.send(.POST, "/queue", json: ["delete": [promptID]], timeout: .seconds(10))
                _ = try? await http.send(.POST, "/interrupt", json: ["prompt_id": promptID], timeout: .seconds(10))
            }
        }
    }

    /// Puts the source picture in ComfyUI's input folder and returns the name `LoadImage` knows it
    /// by. The file is named after its content, so a retried job overwrites the same file instead of
    /// filling the folder.
    func upload(_ picture: Data) async throws -> String {
        let format = ImageData.format(picture)
        let filename = "atelier_\(Hex.encode(SHA256.hash(data: picture)).prefix(16)).\(format.fileExtension)"
        let form = MultipartForm(
            fields: [("type", "input"), ("overwrite", "true")],
            files: [.init(field: "image", filename: filename, contentType: format.mediaType, data: picture)]
        )
        let reply = try await http.expectOK(
            .POST,
            "/upload/image",
            body: form.body,
            contentType: form.contentType,
            timeout: .seconds(120),
            what: "uploading the source picture"
        )
        let answer = try http.object(reply, what: "uploading the source picture")
        guard let name = answer["name"] as? String, !name.isEmpty else {
            throw BackendError(backend: self.name, message: "uploading the source picture: no name in the answer", retryable: false)
        }
        let subfolder = answer["subfolder"] as? String ?? ""
        return subfolder.isEmpty ? name : "\(subfolder)/\(name)"
    }

    struct ImageRef {
        var filename: String
        var subfolder: String
        var type: String
    }

    /// The first saved image of the outputs (a SaveImage node's), else any preview.
    static func firstImage(_ outputs: [String: Any]) -> ImageRef? {
        let images = outputs.keys.sorted().flatMap { key -> [ImageRef] in
            ((outputs[key] as? [String: Any])?["images"] as? [[String: Any]] ?? []).compactMap { item in
                (item["filename"] as? String).map {
                    ImageRef(filename: $0, subfolder: item["subfolder"] as? String ?? "", type: item["type"] as? String ?? "output")
                }
            }
        }
        return images.first { $0.type == "output" } ?? images.first
    }

    /// `{"error": {"message", "details"}, "node_errors": {...}}` in a sentence.
    static func promptError(_ body: Data) -> String {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return BackendHTTP.snippet(body) }
        var parts: [String] = []
        if let error = object["error"] as? [String: Any] {
            parts.append([error["message"] as? String, error["details"] as? String].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": "))
        }
        if let nodes = object["node_errors"] as? [String: Any] {
            for (id, value) in nodes.sorted(by: { $0.key < $1.key }) {
                let errors = ((value as? [String: Any])?["errors"] as? [[String: Any]] ?? []).compactMap { error in
                    [error["message"] as? String, error["details"] as? String].compactMap { $0 }.joined(separator: ": ")
                }
                if !errors.isEmpty { parts.append("node \(id): \(errors.joined(separator: "; "))") }
            }
        }
        return parts.isEmpty ? BackendHTTP.snippet(body) : parts.joined(separator: "; ")
    }

    static func executionError(_ status: [String: Any]?) -> String {
        for message in status?["messages"] as? [[Any]] ?? [] {
            if message.first as? String == "execution_error", let detail = message.last as? [String: Any] {
                let node = detail["node_type"] as? String ?? "a node"
                return "\(node): \(detail["exception_message"] as? String ?? "unknown error")"
            }
        }
        return "unknown error"
    }
}
