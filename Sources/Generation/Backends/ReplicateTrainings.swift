import AsyncHTTPClient
import Core
import Foundation
import NIOCore

/// Replicate's trainings (https://replicate.com/docs/reference/http#trainings.create) for the
/// studio's /train: the photos' zip is uploaded with the files API (`POST /v1/files`, part
/// `content`), a training of the trainer version is created with the zip's URL and the trigger
/// word, and its `output.weights` (a tar holding the LoRA) is fetched when it has succeeded.
package struct ReplicateTrainings: Sendable {
    package struct Training: Sendable, Equatable {
        /// `starting`, `processing`, `succeeded`, `failed` or `canceled`.
        package var status: String
        package var weightsURL: String?
        package var error: String?
    }

    let http: BackendHTTP
    /// `owner/name` and the version id of the trainer (ostris/flux-dev-lora-trainer and the like).
    let trainerModel: String
    let trainerVersion: String
    /// `owner/name` of the Replicate model the trained versions go to (it must exist).
    let destination: String
    let transport: BackendTransport

    /// `trainer` is `owner/name:version`.
    package init(client: BackendTransport, base: URL, token: Secret, trainer: String, destination: String) throws {
        let parts = trainer.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0].split(separator: "/").count == 2, !parts[1].isEmpty else {
            throw AppError.validation(field: "trainer", "must be owner/name:version, e.g. ostris/flux-dev-lora-trainer:<version id>")
        }
        guard destination.split(separator: "/").count == 2 else {
            throw AppError.validation(field: "destination", "must be owner/name of a Replicate model you own")
        }
        trainerModel = parts[0]
        trainerVersion = parts[1]
        self.destination = destination
        transport = client
        http = BackendHTTP(client: client, backend: "replicate", base: base, headers: [("Authorization", "Bearer \(token.value)")])
    }

    /// Uploads the zip and starts the training; returns the training id.
    package func start(zip: Data, triggerWord: String) async throws -> String {
        let form = MultipartForm(
            fields: [],
            files: [MultipartForm.File(field: "content", filename: "photos.zip", contentType: "application/zip", data: zip)]
        )
        let upload = try http.object(
            try await http.expectOK(
                .POST,
                "/files",
                body: form.body,
                contentType: form.contentType,
                timeout: .seconds(300),
                what: "uploading the photos"
            ),
            what: "uploading the photos"
        )
        guard let url = (upload["urls"] as? [String: Any])?["get"] as? String else {
            throw BackendError(backend: "replicate", message: "uploading the photos: the answer has no urls.get", retryable: false)
        }
        let body: [String: Any] = [
            "destination": destination,
            "input": ["input_images": url, "trigger_word": triggerWord, "steps": 1000, "autocaption": true],
        ]
        let training = try http.object(
            try await http.expectOK(.POST, "/models/\(trainerModel)/versions/\(trainerVersion)/trainings", json: body, what: "starting the training"),
            what: "starting the training"
        )
        guard let id = training["id"] as? String, !id.isEmpty else {
            throw BackendError(backend: "replicate", message: "starting the training: the answer has no id", retryable: false)
        }
        return id
    }

    package func training(_ id: String) async throws -> Training {
        let object = try http.object(try await http.expectOK(.GET, "/trainings/\(id)", what: "training \(id)"), what: "training \(id)")
        let output = object["output"] as? [String: Any]
        return Training(
            status: object["status"] as? String ?? "processing",
            weightsURL: output?["weights"] as? String,
            error: (object["error"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        )
    }

    /// Streams `url` (the weights; public, so no credentials unless it is Replicate's own API)
    /// into `path`, at most `maxBytes`.
    package func download(_ url: String, to path: String, maxBytes: Int64) async throws {
        var request = HTTPClientRequest(url: url)
        if http.sameOrigin(url) { for (name, value) in http.headers { request.headers.add(name: name, value: value) } }
        let response = try await transport.send(request, .seconds(1800))
        guard response.status == .ok else {
            throw BackendError(backend: "replicate", message: "downloading the trained weights: HTTP \(response.status.code)", retryable: true)
        }
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        guard let file = FileHandle(forWritingAtPath: path) else {
            throw BackendError(backend: "replicate", message: "cannot write \(path)", retryable: false)
        }
        defer { try? file.close() }
        var written: Int64 = 0
        for try await chunk in response.body {
            written += Int64(chunk.readableBytes)
            guard written <= maxBytes else {
                throw BackendError(backend: "replicate", message: "the trained weights are larger than \(maxBytes) bytes", retryable: false)
            }
            try file.write(contentsOf: Data(buffer: chunk))
        }
    }
}
