import Core
import Foundation
import NIOHTTP1

/// Turns a reference into the files to download, with what the hub says about each.
struct HubPlanner: Sendable {
    let civitai: CivitaiClient
    let huggingFace: HuggingFaceClient

    func plan(_ reference: HubReference) async throws -> [PlannedFile] {
        switch reference {
        case .civitaiModel(let modelID, let versionID):
            if let versionID {
                return [try civitaiFile(try await civitai.modelVersion(versionID), query: [:], source: reference)]
            }
            let model = try await civitai.model(modelID)
            guard var newest = model.modelVersions.first else {
                throw AppError.notFound("Civitai model \(modelID) has no published version to download")
            }
            newest.modelId = newest.modelId ?? model.id
            if newest.model == nil { newest.model = .init(name: model.name, type: model.type, nsfw: model.nsfw) }
            return [try civitaiFile(newest, query: [:], source: reference)]
        case .civitaiVersion(let versionID, let query):
            return [try civitaiFile(try await civitai.modelVersion(versionID), query: query, source: reference)]
        case .huggingFace(let repo, let path, let revision):
            if let path { return [try await huggingFaceFile(repo: repo, path: path, revision: revision, subfolder: nil)] }
            let info = try await huggingFace.modelInfo(repo: repo, revision: revision)
            let files = (info.siblings ?? []).filter { !$0.rfilename.hasPrefix(".") && !$0.rfilename.contains("/.") }
            guard !files.isEmpty else { throw AppError.notFound("\(repo) has no files to download") }
            let commit = info.sha ?? revision
            let folder = repo.replacingOccurrences(of: "/", with: "--")
            return files.map { sibling in
                let directory = (sibling.rfilename as NSString).deletingLastPathComponent
                return PlannedFile(
                    request: hfRequest(
                        repo: repo,
                        path: sibling.rfilename,
                        revision: commit,
                        size: sibling.lfs?.size ?? sibling.size,
                        sha256: sibling.lfs?.sha256
                    ),
                    info: hfInfo(repo: repo, path: sibling.rfilename, revision: revision, kind: .other),
                    subfolder: directory.isEmpty ? folder : "\(folder)/\(directory)"
                )
            }
        case .url(let link):
            // A `#sha256=HEX` fragment (as the controller's file links carry) is the file's
            // expected hash; fragments are never sent, so it is taken off the request.
            let (url, expectedSHA256) = Self.splitHashFragment(link)
            let name = url.lastPathComponent.isEmpty ? "download.bin" : url.lastPathComponent
            let request = FileRequest(url: url, credentials: nil, expectedSize: nil, expectedSHA256: expectedSHA256, filename: name) { status, _, _ in
                AppError(.badGateway, "\(url.host ?? "the server") answered HTTP \(status.code) for \(name)", code: "upstream_error")
            }
            let info = ModelInfo(
                name: (name as NSString).deletingPathExtension,
                versionName: nil,
                kind: Self.guessKind(name),
                baseModel: nil,
                trainedWords: [],
                description: nil,
                civitaiModelID: nil,
                civitaiVersionID: nil,
                hfRepo: nil,
                hfRevision: nil,
                hfPath: nil,
                previewURL: nil,
                source: url.absoluteString
            )
            return [PlannedFile(request: request, info: info, subfolder: nil)]
        }
    }

    /// The URL without its fragment, and the SHA-256 a `#sha256=HEX` fragment names.
    static func splitHashFragment(_ url: URL) -> (URL, String?) {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false), let fragment = components.fragment else { return (url, nil) }
        components.fragment = nil
        let stripped = components.url ?? url
        guard fragment.hasPrefix("sha256=") else { return (stripped, nil) }
        let hex = fragment.dropFirst("sha256=".count).lowercased()
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) else { return (stripped, nil) }
        return (stripped, String(hex))
    }

    /// Chooses the file of a version: the one matching the selectors, else the primary, else the
    /// first model file.
    func civitaiFile(_ version: CivitaiModelVersion, query: [String: String], source: HubReference) throws -> PlannedFile {
        let files = version.files
        guard !files.isEmpty else {
            throw AppError.notFound("Civitai model version \(version.id) has no files to download (archived or removed)")
        }
        let matching = files.filter { file in
            (query["type"].map { $0.caseInsensitiveCompare(file.type ?? "") == .orderedSame } ?? true)
                && (query["format"].map { $0.caseInsensitiveCompare(file.metadata?.format ?? "") == .orderedSame } ?? true)
                && (query["size"].map { $0.caseInsensitiveCompare(file.metadata?.size ?? "") == .orderedSame } ?? true)
                && (query["fp"].map { $0.caseInsensitiveCompare(file.metadata?.fp ?? "") == .orderedSame } ?? true)
        }
        let chosen: CivitaiModelVersion.File
        if !query.isEmpty {
            guard let match = matching.first else {
                let have = files.map { "\($0.type ?? "?")/\($0.metadata?.format ?? "?")/\($0.metadata?.size ?? "?")/\($0.metadata?.fp ?? "?")" }
                throw AppError.notFound(
                    "no file of Civitai version \(version.id) matches \(query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")); it has \(have.joined(separator: ", "))"
                )
            }
            chosen = match
        } else {
            chosen = files.first { $0.primary == true } ?? files.first { $0.type == "Model" } ?? files[0]
        }
        let url =
            chosen.downloadUrl.flatMap { URL(string: $0) }.flatMap { rebase($0) }
            ?? civitai.downloadURL(versionID: version.id, query: query)
        let versionID = version.id
        let hasToken = civitai.token != nil
        var request = FileRequest(
            url: url,
            credentials: civitai.token,
            expectedSize: nil,
            expectedSHA256: chosen.sha256,
            filename: chosen.name
        ) { status, headers, body in
            HubErrors.civitai(status, headers: headers, body: body, what: "the file of model version \(versionID)", hasToken: hasToken)
        }
        let base = civitai.baseURL
        request.describeWebPage = { url in
            HubErrors.isCivitaiLogin(url, civitai: base)
                ? HubErrors.civitaiLogin(what: "the file of model version \(versionID)", hasToken: hasToken) : nil
        }
        let preview = version.images?.first { ($0.type ?? "image") == "image" }?.url
        let info = ModelInfo(
            name: version.model?.name ?? chosen.name,
            versionName: version.name,
            kind: ModelKind(civitaiType: version.model?.type ?? "Other"),
            baseModel: version.baseModel,
            trainedWords: version.trainedWords ?? [],
            description: nil,
            civitaiModelID: version.modelId,
            civitaiVersionID: version.id,
            hfRepo: nil,
            hfRevision: nil,
            hfPath: nil,
            previewURL: preview,
            source: source.description
        )
        return PlannedFile(request: request, info: info, subfolder: nil)
    }

    /// Civitai's `downloadUrl` names civitai.com; when a mirror (or a test server) is configured,
    /// the same path is asked of it.
    func rebase(_ url: URL) -> URL? {
        guard let host = url.host?.lowercased(), host == "civitai.com" || host == "www.civitai.com" else { return url }
        var components = URLComponents(url: civitai.baseURL, resolvingAgainstBaseURL: false)!
        let original = URLComponents(url: url, resolvingAgainstBaseURL: false)
        components.path = (components.path.trimmingSuffix("/")) + url.path
        components.percentEncodedQuery = original?.percentEncodedQuery
        return components.url
    }

    func huggingFaceFile(repo: String, path: String, revision: String, subfolder: String?) async throws -> PlannedFile {
        let metadata = try await huggingFace.fileMetadata(repo: repo, path: path, revision: revision)
        let pinned = metadata.commit ?? revision
        return PlannedFile(
            request: hfRequest(repo: repo, path: path, revision: pinned, size: metadata.size, sha256: metadata.sha256),
            info: hfInfo(repo: repo, path: path, revision: revision, kind: Self.guessKind(path)),
            subfolder: subfolder
        )
    }

    func hfRequest(repo: String, path: String, revision: String, size: Int64?, sha256: String?) -> FileRequest {
        let hasToken = huggingFace.token != nil
        let name = (path as NSString).lastPathComponent
        return FileRequest(
            url: huggingFace.resolveURL(repo: repo, path: path, revision: revision),
            credentials: huggingFace.token,
            expectedSize: size,
            expectedSHA256: sha256,
            filename: name
        ) { status, headers, _ in
            HubErrors.huggingFace(status, headers: headers, repo: repo, path: path, revision: revision, hasToken: hasToken)
        }
    }

    func hfInfo(repo: String, path: String?, revision: String, kind: ModelKind) -> ModelInfo {
        let name = path.map { ($0 as NSString).lastPathComponent } ?? repo
        return ModelInfo(
            name: (name as NSString).deletingPathExtension,
            versionName: revision == "main" ? nil : revision,
            kind: kind,
            baseModel: nil,
            trainedWords: [],
            description: nil,
            civitaiModelID: nil,
            civitaiVersionID: nil,
            hfRepo: repo,
            hfRevision: revision,
            hfPath: path,
            previewURL: nil,
            source: HubReference.huggingFace(repo: repo, path: path, revision: revision).description
        )
    }

    /// The one file of a repository a GPU loads for `kind`: a checkpoint is a single-file
    /// `.safetensors`/`.ckpt` at the root (a diffusers folder layout is not loadable as one); a
    /// LoRA or VAE a `.safetensors` (a VAE's `.pt`/`.ckpt` too), at the root first. Files whose
    /// names say they are another kind are passed over; then `.safetensors` before other formats,
    /// names that say the kind first (a VAE), the largest (full weights before a pruned copy), the
    /// name for a stable choice.
    static func modelFile(in siblings: [HFModelInfo.Sibling], repo: String, kind: ModelKind) throws -> String {
        let extensions: [String] =
            switch kind {
            case .checkpoint: [".safetensors", ".ckpt"]
            case .lora: [".safetensors"]
            case .vae: [".safetensors", ".pt", ".ckpt"]
            default: [".safetensors", ".ckpt", ".pt", ".pth", ".bin"]
            }
        let weights = siblings.filter { sibling in
            let lower = sibling.rfilename.lowercased()
            return extensions.contains { lower.hasSuffix($0) } && !lower.split(separator: "/").contains { $0.hasPrefix(".") }
        }
        let ofKind = weights.filter { sibling in
            let guessed = guessKind(sibling.rfilename)
            return kind == .checkpoint ? guessed == .checkpoint : guessed == kind || guessed == .checkpoint
        }
        let atRoot = ofKind.filter { !$0.rfilename.contains("/") }
        let candidates = kind == .checkpoint || !atRoot.isEmpty ? atRoot : ofKind
        func rank(_ sibling: HFModelInfo.Sibling) -> (Int, Int, Int64) {
            let lower = sibling.rfilename.lowercased()
            return (
                lower.hasSuffix(".safetensors") ? 0 : 1, kind == .vae && lower.contains("vae") ? 0 : 1,
                -(sibling.lfs?.size ?? sibling.size ?? 0)
            )
        }
        guard let chosen = candidates.min(by: { rank($0) < rank($1) || (rank($0) == rank($1) && $0.rfilename < $1.rfilename) }) else {
            let names = siblings.map(\.rfilename).sorted().prefix(12).joined(separator: ", ")
            let wanted =
                kind == .checkpoint
                ? "a single-file checkpoint (.safetensors or .ckpt) at its root" : "a \(kind.rawValue) file (\(extensions.joined(separator: ", ")))"
            throw AppError.notFound(
                "Hugging Face repository \(repo) has no \(wanted) (it has \(names.isEmpty ? "no files" : names)); point the catalog entry at a repository with one"
            )
        }
        return chosen.rfilename
    }

    /// Without a hub's word on the type, a file name is the best hint.
    static func guessKind(_ path: String) -> ModelKind {
        let lower = path.lowercased()
        let isWeights = [".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf"].contains { lower.hasSuffix($0) }
        guard isWeights else { return .other }
        if lower.contains("lora") || lower.contains("lycoris") { return .lora }
        if lower.contains("vae") { return .vae }
        if lower.contains("controlnet") || lower.contains("control_") { return .controlnet }
        if lower.contains("esrgan") || lower.contains("upscale") { return .upscaler }
        return .checkpoint
    }
}
