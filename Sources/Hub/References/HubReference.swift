import Core
import Foundation

/// What a user asked to pull, in any of the accepted spellings, reduced to one of four things.
package enum HubReference: Sendable, Equatable, CustomStringConvertible {
    /// A Civitai model; without a version, its newest version.
    case civitaiModel(modelID: Int, versionID: Int?)
    /// A Civitai model version; `query` keeps file selectors (`type`, `format`, `size`, `fp`).
    case civitaiVersion(versionID: Int, query: [String: String])
    /// A Hugging Face repository (all files) or one file in it.
    case huggingFace(repo: String, path: String?, revision: String)
    /// A plain https URL (allowed hosts only; checked when fetched).
    case url(URL)

    package var description: String {
        switch self {
        case .civitaiModel(let model, let version):
            "civitai model \(model)" + (version.map { " version \($0)" } ?? "")
        case .civitaiVersion(let version, _): "civitai:\(version)"
        case .huggingFace(let repo, let path, let revision):
            "hf:\(repo)" + (path.map { "/\($0)" } ?? "") + (revision == "main" ? "" : "@\(revision)")
        case .url(let url): url.absoluteString
        }
    }

    /// Parses a reference. Accepted:
    /// - `https://civitai.com/models/ID[/slug][?modelVersionId=V]`
    /// - `https://civitai.com/api/download/models/V[?type=&format=&size=&fp=]`
    /// - `urn:air:ECOSYSTEM:TYPE:civitai:ID@V` (and `…:civitai:ID` for the newest version)
    /// - `civitai:V` (a version id, as the Civitai download API takes)
    /// - `https://huggingface.co/OWNER/REPO/(blob|resolve)/REV/PATH`, `https://huggingface.co/OWNER/REPO`
    /// - `hf:OWNER/REPO[/PATH][@REV]`
    /// - any other `https://` URL
    package static func parse(_ raw: String) throws -> HubReference {
        let text = raw.trimmingWhitespace
        guard !text.isEmpty else { throw invalid(raw, "the reference is empty") }
        let lower = text.lowercased()
        if lower.hasPrefix("urn:air:") { return try parseAIR(text) }
        if lower.hasPrefix("civitai:") {
            guard let version = positiveInt(String(text.dropFirst("civitai:".count))) else {
                throw invalid(raw, "civitai: takes a model version id, e.g. civitai:128713")
            }
            return .civitaiVersion(versionID: version, query: [:])
        }
        if lower.hasPrefix("hf:") { return try parseHFShort(String(text.dropFirst(3)), raw: raw) }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty
        else {
            throw invalid(raw, "expected a Civitai or Hugging Face link, urn:air:…, civitai:VERSION, hf:owner/repo[/file] or an https URL")
        }
        guard scheme == "https" || scheme == "http" else { throw invalid(raw, "only http(s) links can be pulled") }
        let segments = components.path.split(separator: "/").map(String.init)
        if host == "civitai.com" || host == "www.civitai.com" || host == "civitai.green" {
            return try parseCivitaiURL(segments: segments, query: components.queryItems ?? [], raw: raw)
        }
        if host == "huggingface.co" || host == "www.huggingface.co" || host == "hf.co" {
            return try parseHFURL(segments: segments, raw: raw)
        }
        guard let url = components.url else { throw invalid(raw, "not a valid URL") }
        return .url(url)
    }

    static func parseCivitaiURL(segments: [String], query: [URLQueryItem], raw: String) throws -> HubReference {
        if segments.count >= 2, segments[0] == "models", let model = positiveInt(segments[1]) {
            let version = query.first { $0.name == "modelVersionId" }?.value.flatMap(positiveInt)
            return .civitaiModel(modelID: model, versionID: version)
        }
        if segments.count >= 4, segments[0] == "api", segments[1] == "download", segments[2] == "models",
            let version = positiveInt(segments[3])
        {
            var selectors: [String: String] = [:]
            for item in query where ["type", "format", "size", "fp"].contains(item.name) {
                if let value = item.value, !value.isEmpty { selectors[item.name] = value }
            }
            return .civitaiVersion(versionID: version, query: selectors)
        }
        throw invalid(raw, "a Civitai link should look like https://civitai.com/models/ID or https://civitai.com/api/download/models/VERSION")
    }

    /// `urn:air:sdxl:lora:civitai:328553@368189` → model 328553, version 368189.
    static func parseAIR(_ text: String) throws -> HubReference {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0].lowercased() == "urn", parts[1].lowercased() == "air" else {
            throw invalid(text, "an AIR looks like urn:air:sdxl:lora:civitai:MODEL@VERSION")
        }
        guard parts[4].lowercased() == "civitai" else {
            throw invalid(text, "only civitai AIRs can be pulled (this one names source '\(parts[4])')")
        }
        // The id part may carry a format suffix after a dot (`123@456.safetensors`).
        let idPart = parts[5].split(separator: ".", maxSplits: 1).first.map(String.init) ?? parts[5]
        let ids = idPart.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard let model = positiveInt(ids[0]) else { throw invalid(text, "the AIR's model id is not a number") }
        if ids.count == 2 {
            guard let version = positiveInt(ids[1]) else { throw invalid(text, "the AIR's version id is not a number") }
            return .civitaiModel(modelID: model, versionID: version)
        }
        return .civitaiModel(modelID: model, versionID: nil)
    }

    static func parseHFURL(segments: [String], raw: String) throws -> HubReference {
        guard segments.count >= 2 else { throw invalid(raw, "a Hugging Face link needs owner/repo") }
        var segments = segments
        var prefix = ""
        if ["datasets", "spaces"].contains(segments[0]) {
            prefix = segments[0] + "/"
            segments.removeFirst()
            guard segments.count >= 2 else { throw invalid(raw, "a Hugging Face link needs owner/repo") }
        }
        let repo = prefix + segments[0] + "/" + segments[1]
        if segments.count == 2 { return .huggingFace(repo: repo, path: nil, revision: "main") }
        if segments.count >= 5, ["blob", "resolve"].contains(segments[2]) {
            let path = segments[4...].joined(separator: "/")
            return .huggingFace(repo: repo, path: try safeRepoPath(path, raw: raw), revision: segments[3])
        }
        if segments.count >= 4, segments[2] == "tree" {
            return .huggingFace(repo: repo, path: nil, revision: segments[3])
        }
        throw invalid(raw, "a Hugging Face file link should look like https://huggingface.co/OWNER/REPO/resolve/main/FILE")
    }

    /// `owner/repo[/path][@revision]`.
    static func parseHFShort(_ text: String, raw: String) throws -> HubReference {
        var body = text
        var revision = "main"
        if let at = body.lastIndex(of: "@") {
            revision = String(body[body.index(after: at)...])
            body = String(body[..<at])
            guard !revision.isEmpty else { throw invalid(raw, "nothing after @; name a branch, tag or commit") }
        }
        let parts = body.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw invalid(raw, "hf: takes owner/repo[/path/to/file][@revision]")
        }
        let path = parts.count > 2 ? parts[2...].joined(separator: "/") : nil
        return .huggingFace(
            repo: parts[0] + "/" + parts[1],
            path: try path.map { try safeRepoPath($0, raw: raw) },
            revision: revision
        )
    }

    static func safeRepoPath(_ path: String, raw: String) throws -> String {
        let parts = path.split(separator: "/")
        guard !parts.isEmpty, !parts.contains(".."), !parts.contains("."), !path.hasPrefix("/") else {
            throw invalid(raw, "the file path inside the repository is not valid")
        }
        return path
    }

    static func positiveInt(_ text: String) -> Int? {
        guard let value = Int(text), value > 0 else { return nil }
        return value
    }

    static func invalid(_ raw: String, _ problem: String) -> AppError {
        AppError.validation(field: "ref", "'\(raw.prefix(200))': \(problem)")
    }
}
