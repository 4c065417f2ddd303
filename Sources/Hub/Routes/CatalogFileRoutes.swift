import Core
import Foundation
import HTTPTypes
import Hummingbird

/// `GET /api/v1/catalog/files/{id}/{name}`: a catalog entry's file, for a fleet node holding a
/// signed link (`CatalogFileLinks`); the signature is the credential. Ranges are served, so the
/// node's pull uses several connections and resumes after a cut. Only files inside the models
/// folders are served, whatever a catalog path says.
package enum CatalogFileRoutes {
    package static func register(on table: RouteTable, catalog: CatalogStore, folders: ModelFolders, links: CatalogFileLinks) {
        table.get(
            "/api/v1/catalog/files/{id}/{name}",
            OperationDoc(
                "A catalog entry's file by a signed link the controller gives its GPU nodes (a LoRA trained here has no other address); Range requests are served",
                tags: ["models"],
                auth: .none,
                parameters: [
                    .query("expires", Schema.integer, "Unix seconds the link works until"),
                    .query("sig", Schema.string(maxLength: 64), "the link's signature"),
                    .header("Range", "bytes=START-END, START- or -COUNT"),
                ],
                responses: [
                    .init(200, "The file", contentType: "application/octet-stream"),
                    .init(206, "The requested range", contentType: "application/octet-stream"),
                ],
                errors: [403, 404, 416]
            )
        ) { request, context in
            let id = try context.parameters.require("id")
            let name = try context.parameters.require("name")
            let query = request.uri.queryParameters
            switch links.check(id: id, name: name, expires: query["expires"].map(String.init), signature: query["sig"].map(String.init)) {
            case .valid: break
            case .expired:
                throw AppError(
                    .forbidden,
                    "this file link has expired; the controller makes a new one when a job needs the file",
                    code: "link_expired"
                )
            case .invalid, .missing:
                throw AppError(
                    .forbidden,
                    "this file link's signature is wrong or missing; use the whole link the controller gave",
                    code: "link_invalid"
                )
            }
            guard let entry = try await catalog.find(id: id), CatalogFileLinks.fileName(entry) == name else {
                throw AppError.notFound("no catalog file \(name) (the entry was removed or its file replaced)")
            }
            guard folders.locate(entry.path) != nil, let size = Self.regularFileSize(entry.path) else {
                throw AppError.notFound("the file of \(entry.key) is not on this server")
            }
            var headers: HTTPFields = [
                .contentType: "application/octet-stream",
                .acceptRanges: "bytes",
                .contentDisposition: "attachment; filename=\"\(name.replacingOccurrences(of: "\"", with: ""))\"",
                .cacheControl: "private, no-store",
            ]
            if let sha256 = entry.sha256 { headers[.eTag] = "\"\(sha256)\"" }
            var range: ClosedRange<Int64> = 0...max(0, size - 1)
            var status = HTTPResponse.Status.ok
            if let header = request.headers[.range] {
                switch ByteRange.parse(header, size: size) {
                case .satisfiable(let asked):
                    range = asked
                    status = .partialContent
                    headers[.contentRange] = "bytes \(asked.lowerBound)-\(asked.upperBound)/\(size)"
                case .unsatisfiable:
                    return Response(
                        status: .rangeNotSatisfiable,
                        headers: [.contentRange: "bytes */\(size)", .contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(string: #"{"detail":"the range starts past the end of the file (\#(size) bytes)"}"#))
                    )
                case nil: break
                }
            }
            guard size > 0 else { return Response(status: status, headers: headers, body: .init()) }
            let body = try await FileIO().loadFile(
                path: entry.path,
                range: Int(range.lowerBound)...Int(range.upperBound),
                context: context,
                chunkLength: 256 << 10
            )
            return Response(status: status, headers: headers, body: body)
        }
    }

    /// The size of a regular file (symlinks followed), nil for a folder or nothing.
    static func regularFileSize(_ path: String) -> Int64? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: ModelFolders.resolve(path)),
            attributes[.type] as? FileAttributeType == .typeRegular
        else { return nil }
        return (attributes[.size] as? NSNumber)?.int64Value
    }
}
