import Core
import Foundation
import NIOCore
import NIOHTTP1

/// What the Hub says about one file before it is downloaded.
package struct HFFileMetadata: Sendable, Equatable {
    package var commit: String?
    /// SHA-256 for LFS files (from `X-Linked-Etag`), or the git blob id for small files.
    package var etag: String?
    package var size: Int64?
    package var isLFS: Bool

    package var sha256: String? { isLFS ? etag : nil }
}

package struct HFModelInfo: Codable, Sendable {
    package var id: String?
    package var sha: String?
    package var `private`: Bool?
    package var siblings: [Sibling]?

    package struct Sibling: Codable, Sendable {
        package var rfilename: String
        package var size: Int64?
        package var lfs: LFS?

        package struct LFS: Codable, Sendable {
            package var sha256: String?
            package var size: Int64?
        }
    }
}

/// The Hugging Face Hub: file metadata (HEAD on `resolve`), repository file lists, and the
/// `resolve` URL the downloader fetches.
package struct HuggingFaceClient: Sendable {
    package let endpoint: URL
    package let token: Secret?
    let http: HubHTTP

    package init(endpoint: URL, token: Secret?, http: HubHTTP) {
        self.endpoint = endpoint
        self.token = token
        self.http = http
    }

    package func resolveURL(repo: String, path: String, revision: String) -> URL {
        let encodedRevision =
            revision.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? revision
        let encodedPath = path.split(separator: "/").map {
            String($0).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0)
        }.joined(separator: "/")
        return URL(string: endpoint.absoluteString.trimmingSuffix("/") + "/\(repo)/resolve/\(encodedRevision)/\(encodedPath)")!
    }

    /// HEAD on the `resolve` URL without following the redirect to the CDN, as huggingface_hub
    /// does, to read `X-Repo-Commit`, `X-Linked-Etag` and `X-Linked-Size`.
    package func fileMetadata(repo: String, path: String, revision: String) async throws -> HFFileMetadata {
        var url = resolveURL(repo: repo, path: path, revision: revision)
        var first: HFFileMetadata?
        // Follow only same-host relative redirects (renamed repos, the resolve cache for small
        // files), as huggingface_hub does; an absolute redirect goes to the CDN and is not followed.
        for _ in 0..<5 {
            let response: HubHTTP.Response
            do {
                response = try await http.send(
                    .HEAD,
                    url: url,
                    headers: [("Accept-Encoding", "identity")],
                    credentials: token,
                    timeout: .seconds(30),
                    followRedirects: false
                )
            } catch let error as HubTransportError {
                throw HubErrors.unreachable("Hugging Face", error)
            }
            var metadata = try self.metadata(from: response, repo: repo, path: path, revision: revision)
            if let earlier = first {
                metadata.commit = earlier.commit ?? metadata.commit
                if earlier.isLFS {
                    metadata.etag = earlier.etag
                    metadata.isLFS = true
                }
                metadata.size = earlier.size ?? metadata.size
            }
            let isRedirect = (300..<400).contains(Int(response.status.code))
            if isRedirect, let location = response.headers.first(name: "Location"), !location.contains("://"),
                let next = URL(string: location, relativeTo: url)?.absoluteURL, metadata.size == nil
            {
                first = metadata
                url = next
                continue
            }
            return metadata
        }
        throw AppError(.badGateway, "Hugging Face redirected \(path) in \(repo) too many times", code: "hub_error")
    }

    func metadata(from response: HubHTTP.Response, repo: String, path: String, revision: String) throws -> HFFileMetadata {
        let headers = response.headers
        guard (200..<400).contains(Int(response.status.code)), headers.first(name: "X-Error-Code") == nil else {
            throw HubErrors.huggingFace(
                response.status,
                headers: headers,
                repo: repo,
                path: path,
                revision: revision,
                hasToken: token != nil
            )
        }
        let linkedEtag = headers.first(name: "X-Linked-Etag").map(Self.unquote)
        let etag = linkedEtag ?? headers.first(name: "ETag").map(Self.unquote)
        // On a redirect, Content-Length is the redirect body's, not the file's.
        let isRedirect = (300..<400).contains(Int(response.status.code))
        let size = (headers.first(name: "X-Linked-Size") ?? (isRedirect ? nil : headers.first(name: "Content-Length")))
            .flatMap { Int64($0) }
        return HFFileMetadata(
            commit: headers.first(name: "X-Repo-Commit"),
            etag: etag,
            size: size,
            isLFS: linkedEtag != nil && linkedEtag?.count == 64
        )
    }

    /// The repository's files (with sizes and LFS hashes).
    package func modelInfo(repo: String, revision: String) async throws -> HFModelInfo {
        let kind = repo.hasPrefix("datasets/") ? "datasets" : repo.hasPrefix("spaces/") ? "spaces" : "models"
        let id = kind == "models" ? repo : String(repo.drop(while: { $0 != "/" }).dropFirst())
        var path = "api/\(kind)/\(id)"
        if revision != "main" { path += "/revision/\(revision.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? revision)" }
        var components = URLComponents(url: endpoint.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        components.queryItems = [URLQueryItem(name: "blobs", value: "true")]
        let response: HubHTTP.Response
        do {
            response = try await http.send(url: components.url!, credentials: token, timeout: .seconds(30))
        } catch let error as HubTransportError {
            throw HubErrors.unreachable("Hugging Face", error)
        }
        let body = try await response.collect()
        guard response.status == .ok else {
            throw HubErrors.huggingFace(
                response.status,
                headers: response.headers,
                repo: repo,
                path: nil,
                revision: revision,
                hasToken: token != nil
            )
        }
        do {
            return try JSONDecoder().decode(HFModelInfo.self, from: body)
        } catch {
            throw AppError(.badGateway, "Hugging Face sent an answer for \(repo) that Atelier cannot read", code: "hub_bad_answer")
        }
    }

    static func unquote(_ value: String) -> String {
        var text = value.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("W/") { text.removeFirst(2) }
        return text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
