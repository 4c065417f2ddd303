import Foundation
import Testing

/// Every text a request carries has a bound: an over-long field is a 422 naming it, and nothing
/// is stored (a megabyte negative prompt used to be kept and sent back in every list).
@Suite("Field bounds on every request", .timeLimit(.minutes(3)))
struct FieldBoundsTests {
    /// Walks a request schema; reports every string without maxLength (or enum), array without
    /// maxItems and free-form object without maxProperties, by its path.
    static func unbounded(_ schema: Any?, at path: String, components: [String: Any]) -> [String] {
        guard var node = schema as? [String: Any] else { return [] }
        if let ref = node["$ref"] as? String {
            node = components[String(ref.split(separator: "/").last ?? "")] as? [String: Any] ?? [:]
        }
        var found: [String] = []
        for key in ["anyOf", "oneOf", "allOf"] {
            for (index, option) in (node[key] as? [Any] ?? []).enumerated() {
                found += unbounded(option, at: "\(path)|\(index)", components: components)
            }
        }
        let types: [String] = (node["type"] as? String).map { [$0] } ?? (node["type"] as? [String] ?? [])
        if types.contains("string"), node["maxLength"] == nil, node["enum"] == nil, node["const"] == nil {
            found.append(path)
        }
        if types.contains("array") {
            if node["maxItems"] == nil { found.append(path + "[]") }
            found += unbounded(node["items"], at: path + "[]", components: components)
        }
        if types.contains("object") {
            for (name, property) in node["properties"] as? [String: Any] ?? [:] {
                found += unbounded(property, at: "\(path).\(name)", components: components)
            }
            if let additional = node["additionalProperties"] as? [String: Any] {
                if node["maxProperties"] == nil { found.append(path + ".*") }
                found += unbounded(additional, at: path + ".*", components: components)
            }
        }
        return found
    }

    @Test("the OpenAPI document bounds every string, list and map of every request body")
    func everyRequestSchemaIsBounded() async throws {
        try await TestApp.run { app in
            let document = try await app.request(.get, "/openapi.json")
            let paths = try #require(document.json["paths"] as? [String: [String: Any]])
            let components = (document.json["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]
            var unbounded: [String] = []
            var bodies = 0
            for (path, operations) in paths {
                for (method, operation) in operations {
                    guard let content = ((operation as? [String: Any])?["requestBody"] as? [String: Any])?["content"] as? [String: Any]
                    else { continue }
                    for (type, media) in content where type.contains("json") {
                        bodies += 1
                        unbounded += Self.unbounded(
                            (media as? [String: Any])?["schema"],
                            at: "\(method.uppercased()) \(path) body",
                            components: components
                        )
                    }
                }
            }
            #expect(bodies >= 15, "the walk found the request bodies")
            #expect(unbounded.isEmpty, "unbounded request fields:\n\(unbounded.sorted().joined(separator: "\n"))")
        }
    }

    @Test("an over-long negative prompt is a 422 naming it on every generation route, and no job is stored")
    func negativePromptBounded() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "0"]) { app in
            let token = try await app.login()
            let long = String(repeating: "n", count: 4001)
            let routes: [(String, String)] = [
                ("/api/v1/generations", #"{"prompt": "a fox", "negative_prompt": "\#(long)"}"#),
                ("/api/v1/generations", #"{"prompts": ["a fox", "a hare"], "negative_prompt": "\#(long)"}"#),
                ("/api/v1/runpod/generate", #"{"prompt": "a fox", "negative_prompt": "\#(long)"}"#),
                ("/generate", #"{"prompt": "a fox", "negative_prompt": "\#(long)"}"#),
            ]
            for (path, body) in routes {
                let refused = try await app.request(.post, path, token: token, json: body)
                #expect(refused.status == .unprocessableContent, "\(path)")
                let detail = refused.detail
                #expect(detail.contains("negative_prompt") && detail.contains("4000"), "\(path): \(detail)")
            }
            let list = try await app.request(.get, "/api/v1/generations", token: token)
            #expect((list.json["items"] as? [Any])?.isEmpty == true)
            // At the bound it is taken.
            let atBound = String(repeating: "n", count: 4000)
            let taken = try await app.request(
                .post,
                "/api/v1/generations",
                token: token,
                json: #"{"prompt": "a fox", "negative_prompt": "\#(atBound)"}"#
            )
            #expect(taken.status == .accepted)
        }
    }

    @Test(
        "the other request types refuse over-long texts by name: login, users, keys, downloads, workers, catalog, fleet",
        arguments: [
            ("/admin/auth/login", #"{"username": "LONG1k", "password": "x"}"#, "username"),
            ("/admin/users", #"{"username": "bob", "password": "a-good-password", "display_name": "LONG2k"}"#, "display_name"),
            ("/api/v1/keys", #"{"name": "LONG2k"}"#, "name"),
            ("/api/v1/downloads", #"{"ref": "LONG3k"}"#, "ref"),
            ("/civitai/download", #"{"url": "LONG3k"}"#, "url"),
            ("/api/v1/workers", #"{"name": "gpu", "backend": "a1111", "endpoint": "http://gpu.example:7860", "models": ["LONG2k"]}"#, "models[0]"),
            ("/api/v1/fleet/nodes", #"{"name": "LONG2k", "url": "http://gpu.example:8000", "token": "t"}"#, "name"),
        ]
    )
    func otherRequestsBounded(path: String, template: String, field: String) async throws {
        try await TestApp.run(["ATELIER_ALLOW_PRIVATE_HOSTS": "true"]) { app in
            let token = try await app.login()
            let body = template.replacingOccurrences(of: "LONG1k", with: String(repeating: "u", count: 1000))
                .replacingOccurrences(of: "LONG2k", with: String(repeating: "d", count: 2000))
                .replacingOccurrences(of: "LONG3k", with: "https://civitai.com/models/" + String(repeating: "1", count: 3000))
            let refused = try await app.request(.post, path, token: token, json: body)
            #expect(refused.status == .unprocessableContent, "\(path): \(refused.status) \(refused.detail)")
            #expect(refused.detail.contains(field), "\(path): \(refused.detail)")
        }
    }
}
