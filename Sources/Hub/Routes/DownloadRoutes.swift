import Accounts
import Core
import Foundation
import HTTPTypes
import Hummingbird

/// `/api/v1/downloads`: pulls run in the background, survive restarts, report progress over SSE.
package enum DownloadRoutes {
    struct CreateRequest: Decodable {
        var ref: String
        var layout: String?
        var kind: String?
    }

    struct DownloadResponse: ResponseEncodable {
        struct Progress: Encodable {
            var total_bytes: Int64?
            var received_bytes: Int64
            var bytes_per_second: Double
            var fraction: Double?
            var file: String?
        }

        var id: String
        var ref: String
        var status: String
        var layout: String?
        var kind: String?
        var progress: Progress
        var files: [DownloadRecord.File]
        var error: String?
        var attempts: Int
        var owner_id: String
        var created_at: Date
        var updated_at: Date
        var started_at: Date?
        var finished_at: Date?

        init(_ record: DownloadRecord, live: DownloadBoard.Live?) {
            let total = live?.totalBytes ?? record.totalBytes
            let received = max(live?.receivedBytes ?? 0, record.receivedBytes)
            id = record.id
            ref = record.ref
            status = record.status.rawValue
            layout = record.layout
            kind = record.kind
            let done = record.status == .succeeded
            progress = Progress(
                total_bytes: total,
                received_bytes: done ? (total ?? received) : received,
                bytes_per_second: record.status == .running ? (live?.bytesPerSecond ?? 0) : 0,
                fraction: done ? 1 : total.flatMap { $0 > 0 ? Double(received) / Double($0) : nil },
                file: live?.file
            )
            files = record.files
            error = record.error
            attempts = record.attempts
            owner_id = record.ownerID
            created_at = Timestamp.date(record.createdAt)
            updated_at = Timestamp.date(record.updatedAt)
            started_at = record.startedAt.map(Timestamp.date)
            finished_at = record.finishedAt.map(Timestamp.date)
        }
    }

    static let schema = Schema.object([
        ("id", Schema.string), ("ref", Schema.string),
        ("status", Schema.string(enum: DownloadRecord.Status.allCases.map(\.rawValue))),
        ("layout", Schema.nullable(Schema.string)), ("kind", Schema.nullable(Schema.string)),
        (
            "progress",
            Schema.object([
                ("total_bytes", Schema.nullable(Schema.integer)), ("received_bytes", Schema.integer),
                ("bytes_per_second", Schema.number), ("fraction", Schema.nullable(Schema.number)),
                ("file", Schema.nullable(Schema.string)),
            ])
        ),
        (
            "files",
            Schema.array(
                Schema.object([
                    ("path", Schema.string), ("sha256", Schema.string), ("size", Schema.integer),
                    ("already_present", Schema.boolean), ("catalog_key", Schema.nullable(Schema.string)),
                ])
            )
        ),
        ("error", Schema.nullable(Schema.string)), ("attempts", Schema.integer), ("owner_id", Schema.string),
        ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
        ("started_at", Schema.nullable(Schema.dateTime)), ("finished_at", Schema.nullable(Schema.dateTime)),
    ])

    package static func register(on table: RouteTable, manager: DownloadManager) {
        table.schema("Download", schema)
        let tags = ["downloads"]
        let ref = Schema.ref("Download")
        let idempotency = OperationDoc.Parameter.header("Idempotency-Key", "Repeat a POST safely: the same key returns the same download")

        table.post(
            "/api/v1/downloads",
            OperationDoc(
                "Start pulling a model (Civitai/Hugging Face reference or URL); answers 202 at once",
                tags: tags,
                auth: .writer,
                request: Schema.object(
                    [
                        (
                            "ref",
                            Schema.string(
                                minLength: 1,
                                maxLength: HubBounds.ref,
                                description:
                                    "civitai.com link, urn:air:…, civitai:VERSION, huggingface.co link, hf:owner/repo[/file][@rev], or https URL"
                            )
                        ),
                        (
                            "layout",
                            Schema.nullable(Schema.string(maxLength: HubBounds.layout, description: "atelier, a1111, comfyui or an install folder"))
                        ),
                        ("kind", Schema.nullable(Schema.string(enum: ModelKind.allCases.map(\.rawValue)))),
                    ],
                    required: ["ref"]
                ),
                parameters: [idempotency],
                responses: [.init(202, "Queued", schema: ref)]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let body = try await request.decodeJSON(CreateRequest.self, context: context)
            let reference = try HubReference.parse(body.ref)
            // A direct URL is checked now, so a private or unknown host is a 4xx, not a failed
            // download later (the pull checks every hop again and connects to what it checked).
            if case .url(let url) = reference { try await manager.hub.http.outbound.approve(url, field: "ref") }
            var kind: ModelKind?
            if let text = body.kind {
                guard let parsed = ModelKind(rawValue: text) else {
                    throw AppError.validation(field: "kind", "must be one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                kind = parsed
            }
            let key = try IdempotencyKey.from(request)
            let record = try await manager.enqueue(
                reference: reference,
                layout: body.layout,
                kind: kind,
                owner: principal.userID,
                idempotencyKey: key
            )
            return JSONResponse(
                .accepted,
                DownloadResponse(record, live: manager.board.snapshot(record.id)),
                headers: [.location: context.absolute("/api/v1/downloads/\(record.id)")]
            )
        }

        table.get(
            "/api/v1/downloads",
            OperationDoc(
                "List your downloads (admins: all), newest last",
                tags: tags,
                auth: .role(.guest),
                parameters: PageRequest.parameters + [
                    .query("status", Schema.string(enum: DownloadRecord.Status.allCases.map(\.rawValue)), "Only this status")
                ],
                responses: [.init(200, "A page of downloads", schema: Schema.page(of: ref))]
            )
        ) { request, context in
            let scope = OwnerScope(try context.requirePrincipal())
            let page = try PageRequest(request: request)
            var status: DownloadRecord.Status?
            if let text = request.uri.queryParameters["status"] {
                guard let parsed = DownloadRecord.Status(rawValue: String(text)) else {
                    throw AppError.validation(field: "status", "must be one of queued, running, succeeded, failed, cancelled")
                }
                status = parsed
            }
            let records = try await manager.store.list(scope: scope, status: status, page: page)
            return Page(fetched: records.map { DownloadResponse($0, live: manager.board.snapshot($0.id)) }, request: page, id: \.id)
        }

        table.get(
            "/api/v1/downloads/{id}",
            OperationDoc(
                "One download",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "The download", schema: ref)]
            )
        ) { _, context in
            let record = try await find(context, manager)
            return DownloadResponse(record, live: manager.board.snapshot(record.id))
        }

        table.get(
            "/api/v1/downloads/{id}/events",
            OperationDoc(
                "Progress as Server-Sent Events: a `progress` event when it changes, `done` at the end",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Event stream", contentType: "text/event-stream")]
            )
        ) { _, context in
            let first = try await find(context, manager)
            return ServerSentEvents.response { events in
                var last: DownloadResponse?
                var quiet = 0
                while true {
                    let record = try await manager.store.find(id: first.id) ?? first
                    let current = DownloadResponse(record, live: manager.board.snapshot(record.id))
                    if last.map({ $0.status != current.status || $0.progress.received_bytes != current.progress.received_bytes }) ?? true {
                        try await events.send(event: record.status.isFinal ? "done" : "progress", json: current)
                        last = current
                        quiet = 0
                    } else {
                        quiet += 1
                        if quiet % 60 == 0 { try await events.keepAlive() }
                    }
                    if record.status.isFinal { return }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
        }

        table.delete(
            "/api/v1/downloads/{id}",
            OperationDoc(
                "Cancel a queued or running download (its partial file is kept for a retry)",
                tags: tags,
                auth: .writer,
                responses: [.init(200, "Cancelled", schema: ref)],
                errors: [409]
            )
        ) { _, context in
            _ = try context.requireWriter()
            let record = try await manager.cancel(try await find(context, manager))
            return DownloadResponse(record, live: nil)
        }

        table.post(
            "/api/v1/downloads/{id}/retry",
            OperationDoc(
                "Queue a failed or cancelled download again; it resumes from what is on disk",
                tags: tags,
                auth: .writer,
                responses: [.init(202, "Queued again", schema: ref)],
                errors: [409]
            )
        ) { _, context in
            _ = try context.requireWriter()
            let record = try await manager.retry(try await find(context, manager))
            return JSONResponse(.accepted, DownloadResponse(record, live: nil))
        }
    }

    static func find(_ context: AppRequestContext, _ manager: DownloadManager) async throws -> DownloadRecord {
        let scope = OwnerScope(try context.requirePrincipal())
        let id = try context.parameters.require("id")
        return try scope.require(try await manager.store.find(id: id), owner: \.ownerID, notFound: "download \(id) not found")
    }
}
