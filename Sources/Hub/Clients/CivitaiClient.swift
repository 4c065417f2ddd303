import Core
import Foundation
import NIOCore

/// Civitai's REST API: model and version metadata, and the download endpoint.
package struct CivitaiClient: Sendable {
    package let baseURL: URL
    package let token: Secret?
    let http: HubHTTP

    package init(baseURL: URL, token: Secret?, http: HubHTTP) {
        self.baseURL = baseURL
        self.token = token
        self.http = http
    }

    package func modelVersion(_ id: Int) async throws -> CivitaiModelVersion {
        try await get("api/v1/model-versions/\(id)", what: "model version \(id)")
    }

    package func model(_ id: Int) async throws -> CivitaiModel {
        try await get("api/v1/models/\(id)", what: "model \(id)")
    }

    package func versionByHash(_ hash: String) async throws -> CivitaiModelVersion {
        try await get("api/v1/model-versions/by-hash/\(hash)", what: "the file with hash \(hash)")
    }

    /// `/api/download/models/{versionId}` with the file selectors Civitai accepts.
    package func downloadURL(versionID: Int, query: [String: String]) -> URL {
        var components = URLComponents(
            url: baseURL.appendingPathComponent("api/download/models/\(versionID)"),
            resolvingAgainstBaseURL: false
        )!
        let items = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        components.queryItems = items.isEmpty ? nil : items
        return components.url!
    }

    /// A client with another token (seed 000's per-request `api_key`).
    package func with(token: Secret?) -> CivitaiClient {
        CivitaiClient(baseURL: baseURL, token: token ?? self.token, http: http)
    }

    func get<T: Decodable>(_ path: String, what: String) async throws -> T {
        let url = baseURL.appendingPathComponent(path)
        let response: HubHTTP.Response
        do {
            response = try await http.send(
                url: url,
                headers: [("Accept", "application/json")],
                credentials: token,
                timeout: .seconds(30)
            )
        } catch let error as HubTransportError {
            throw HubErrors.unreachable("Civitai", error)
        }
        let body = try await response.collect()
        if response.status == .ok, ContentCheck.isWebPage(response.headers.first(name: "Content-Type"), filename: path),
            HubErrors.isCivitaiLogin(response.url, civitai: baseURL)
        {
            throw HubErrors.civitaiLogin(what: what, hasToken: token != nil)
        }
        guard response.status == .ok else {
            throw HubErrors.civitai(
                response.status,
                headers: response.headers,
                body: String(buffer: body),
                what: what,
                hasToken: token != nil
            )
        }
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw AppError(.badGateway, "Civitai sent an answer for \(what) that Atelier cannot read", code: "hub_bad_answer")
        }
    }
}
