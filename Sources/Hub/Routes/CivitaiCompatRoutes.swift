import Core
import Foundation
import Hummingbird

/// Seed 000's download API, exactly as documented: `GET /civitai/status` and
/// `POST /civitai/download {url, api_key?}` answering once the file is on disk. Callers
/// authenticate with `X-Token` (an Atelier API key) or a bearer token.
package enum CivitaiCompatRoutes {
    struct DownloadRequest: Decodable {
        var url: String
        var api_key: String?
    }

    struct DownloadResponse: ResponseEncodable {
        var success = true
        var message = "Model downloaded successfully"
        var filename: String
        var path: String
        var model_name: String
        var version_name: String?
    }

    struct Status: ResponseEncodable {
        var status = "online"
        var service = "civitai-downloader"
    }

    package static func register(on table: RouteTable, hub: HubService) {
        let tags = ["seed-000", "compat"]
        table.get(
            "/civitai/status",
            OperationDoc(
                "Is the download service up",
                tags: tags,
                auth: .none,
                responses: [
                    .init(
                        200,
                        "Online",
                        schema: Schema.object(
                            [
                                ("status", Schema.string(enum: ["online"])), ("service", Schema.string(enum: ["civitai-downloader"])),
                            ],
                            required: ["status", "service"]
                        )
                    )
                ]
            )
        ) { _, _ in Status() }

        let failure = Schema.object(
            [("detail", Schema.string), ("success", Schema.boolean), ("message", Schema.string)],
            required: ["detail", "success", "message"]
        )
        table.post(
            "/civitai/download",
            OperationDoc(
                "Download a Civitai model onto this machine and answer when it is on disk",
                tags: tags,
                auth: .writer,
                request: Schema.object(
                    [
                        ("url", Schema.string(minLength: 1, maxLength: HubBounds.url, description: "A civitai.com model link, download link or AIR")),
                        (
                            "api_key",
                            Schema.nullable(
                                Schema.string(maxLength: HubBounds.apiKey, description: "Civitai API key for this download (else CIVITAI_API_TOKEN)")
                            )
                        ),
                    ],
                    required: ["url"]
                ),
                responses: [
                    .init(
                        200,
                        "Downloaded",
                        schema: Schema.object(
                            [
                                ("success", Schema.boolean), ("message", Schema.string), ("filename", Schema.string), ("path", Schema.string),
                                ("model_name", Schema.string), ("version_name", Schema.nullable(Schema.string)),
                            ],
                            required: ["success", "message", "filename", "path", "model_name", "version_name"]
                        )
                    ),
                    .init(400, "Bad link", schema: failure),
                    .init(401, "No Atelier credentials, or Civitai refused the api_key given", schema: failure),
                    .init(403, "This model needs a Civitai API key (api_key or CIVITAI_API_TOKEN)", schema: failure),
                    .init(404, "Model or file not found", schema: failure),
                    .init(429, "Civitai rate limit", schema: failure),
                    .init(503, "Civitai failed or is unreachable", schema: failure), .init(504, "Civitai timed out", schema: failure),
                ]
            )
        ) { request, context in
            _ = try context.requireWriter()
            let body = try await request.decodeJSON(DownloadRequest.self, context: context)
            do {
                let reference: HubReference
                do {
                    reference = try HubReference.parse(body.url)
                } catch let error as AppError {
                    // The seed answers 400 for a link it cannot use.
                    throw AppError(.badRequest, error.detail, code: "bad_link", field: "url")
                }
                guard reference.isCivitai else {
                    throw AppError(
                        .badRequest,
                        "url: this endpoint downloads from Civitai; use POST /api/v1/downloads for other hubs",
                        code: "bad_link",
                        field: "url"
                    )
                }
                let token = body.api_key.flatMap { $0.isEmpty ? nil : Secret($0) }
                let files = try await hub.pull(reference, layout: try hub.layout(nil), civitaiToken: token)
                guard let file = files.first else { throw AppError.notFound("nothing to download for \(body.url)") }
                return DownloadResponse(
                    filename: (file.path as NSString).lastPathComponent,
                    path: file.path,
                    model_name: file.entry.name,
                    version_name: file.entry.versionName
                )
            } catch let error as AppError {
                throw SeedFailure(error: seedError(error))
            }
        }
    }

    /// Seed 000's error list has no 502: a failing Civitai (5xx, a broken answer) is its 503 "no
    /// connection to Civitai". A model that needs a key says how to give one on this route.
    static func seedError(_ error: AppError) -> AppError {
        var error = error
        if error.code == HubErrors.civitaiKeyNeeded {
            error.detail =
                "this model needs a Civitai API key: send it as api_key in the request body, or set CIVITAI_API_TOKEN on the server (civitai.com → Account → API Keys)"
        }
        if error.status == .badGateway {
            error.status = .serviceUnavailable
            error.headers[.retryAfter] = error.headers[.retryAfter] ?? "60"
        }
        return error
    }

    /// Seed 000's clients read `success` and `message`; Atelier's read `detail`. Both are sent.
    struct SeedFailure: Error, HTTPResponseError {
        var error: AppError
        var status: HTTPResponse.Status { error.status }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            let body: [String: Any] = ["detail": error.detail, "success": false, "message": error.detail]
            var headers = error.headers
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(
                status: error.status,
                headers: headers,
                body: .init(byteBuffer: ByteBuffer(data: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])))
            )
        }
    }
}

extension HubReference {
    var isCivitai: Bool {
        switch self {
        case .civitaiModel, .civitaiVersion: true
        default: false
        }
    }
}
