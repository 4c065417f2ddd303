import Core
import Crypto
import Foundation
import Logging
import NIOHTTP1
import Storage

/// Pulls models: resolves a reference through the hub APIs, downloads each file, places it in the
/// layout, writes its metadata and preview beside it, and records it in the catalog.
package struct HubService: Sendable {
    package let settings: HubSettings
    package let civitai: CivitaiClient
    package let huggingFace: HuggingFaceClient
    package let catalog: CatalogStore
    let http: HubHTTP
    let downloader: RangeDownloader
    let limiter: BandwidthLimiter?
    let logger: Logger

    package init(settings: HubSettings, http: HubHTTP, database: Database, logger: Logger) {
        self.settings = settings
        self.http = http
        self.civitai = CivitaiClient(baseURL: settings.civitaiURL, token: settings.civitaiToken, http: http)
        self.huggingFace = HuggingFaceClient(endpoint: settings.huggingFaceEndpoint, token: settings.huggingFaceToken, http: http)
        self.catalog = CatalogStore(database: database)
        self.downloader = RangeDownloader(http: http, logger: logger)
        self.limiter = settings.maxBytesPerSecond.map(BandwidthLimiter.init(bytesPerSecond:))
        self.logger = logger
    }

    /// The models folders: the data dir's `models/` and the configured layout's root.
    package var folders: ModelFolders {
        ModelFolders(roots: [settings.modelsRoot] + [(try? layout(nil))?.root].compactMap { $0 })
    }

    package func layout(_ name: String?) throws -> ModelLayout {
        try ModelLayout.parse(name ?? settings.defaultLayout, modelsRoot: settings.modelsRoot)
    }

    /// The file of a whole Hugging Face repository that a catalog entry of `kind` means (seed 003
    /// names repositories, and a GPU loads one file): see `HubPlanner.modelFile`.
    package func modelFile(inRepo repo: String, revision: String = "main", kind: ModelKind) async throws -> String {
        let info = try await huggingFace.modelInfo(repo: repo, revision: revision)
        return try HubPlanner.modelFile(in: info.siblings ?? [], repo: repo, kind: kind)
    }

    /// What `reference` names, as the hub describes it (model, version, files), without
    /// downloading anything: what a bot shows before a download starts.
    package func plan(_ reference: HubReference) async throws -> [PlannedFile] {
        try await HubPlanner(civitai: civitai, huggingFace: huggingFace).plan(reference)
    }

    /// Pulls every file of `reference`. `onProgress` gets the file name with each snapshot.
    package func pull(
        _ reference: HubReference,
        layout: ModelLayout,
        kind: ModelKind? = nil,
        civitaiToken: Secret? = nil,
        options: DownloadOptions? = nil,
        onPlanned: @escaping @Sendable ([PlannedFile]) -> Void = { _ in },
        onProgress: @escaping @Sendable (String, DownloadProgress) -> Void = { _, _ in }
    ) async throws -> [PulledFile] {
        let planner = HubPlanner(civitai: civitai.with(token: civitaiToken), huggingFace: huggingFace)
        var files = try await planner.plan(reference)
        if let kind {
            files = files.map {
                var file = $0
                file.info.kind = kind
                return file
            }
        }
        onPlanned(files)
        var pulled: [PulledFile] = []
        for file in files {
            var chosen = options ?? DownloadOptions(connections: settings.connections)
            if chosen.limiter == nil { chosen.limiter = limiter }
            pulled.append(try await pull(file, layout: layout, options: chosen, onProgress: onProgress))
        }
        return pulled
    }

    func pull(
        _ file: PlannedFile,
        layout: ModelLayout,
        options: DownloadOptions,
        onProgress: @escaping @Sendable (String, DownloadProgress) -> Void
    ) async throws -> PulledFile {
        var folder = layout.folder(for: file.info.kind)
        if let subfolder = file.subfolder {
            for part in subfolder.split(separator: "/") { folder = (folder as NSString).appendingPathComponent(Placement.sanitize(String(part))) }
        }
        var destination = try Placement.confined(file.request.filename, in: folder)

        // Same content already here (anywhere in the catalog, or at the destination): no download.
        // The bytes on disk are hashed, not taken on the catalog's word: a file replaced since
        // it was recorded must not be reported as this download.
        if let expected = file.request.expectedSHA256 {
            for existing in try await catalog.available(sha256: expected) where FileManager.default.fileExists(atPath: existing.path) {
                guard let onDisk = try? FileHashing.sha256(path: existing.path), onDisk.sha256 == expected else {
                    logger.notice("catalog file changed on disk; fetching", metadata: ["path": "\(existing.path)"])
                    continue
                }
                logger.info("already present", metadata: ["path": "\(existing.path)"])
                return PulledFile(
                    path: existing.path,
                    sha256: expected,
                    size: onDisk.size,
                    alreadyPresent: true,
                    resumedBytes: 0,
                    entry: existing
                )
            }
        }
        var compareWith: (sha256: String, size: Int64)?
        if FileManager.default.fileExists(atPath: destination) {
            let existing = try FileHashing.sha256(path: destination)
            if let expected = file.request.expectedSHA256 {
                if existing.sha256 == expected {
                    let entry = try await record(file, path: destination, sha256: existing.sha256, size: existing.size)
                    return PulledFile(
                        path: destination,
                        sha256: existing.sha256,
                        size: existing.size,
                        alreadyPresent: true,
                        resumedBytes: 0,
                        entry: entry
                    )
                }
                // A different file has this name: keep it, and give the new one a distinct name.
                destination = try Placement.confined(Self.distinctName(file.request.filename, sha256: expected), in: folder)
            } else {
                // No hash to compare with: fetch, then compare the bytes (below).
                compareWith = existing
            }
        }
        let name = file.request.filename
        // Compared downloads land in the work dir first (the downloader's own assumption: same file
        // system as the models), so nothing half-decided ever appears in the models folder.
        let target =
            compareWith == nil
            ? destination
            : (settings.workDir as NSString).appendingPathComponent("incoming-\(ID.make("dl"))-\(Placement.sanitize(name))")
        let result = try await downloader.download(file.request, to: target, workDir: settings.workDir, options: options) {
            onProgress(name, $0)
        }
        if let existing = compareWith {
            if existing.sha256 == result.sha256 {
                // The same bytes were already under this name.
                try? FileManager.default.removeItem(atPath: target)
                let entry = try await record(file, path: destination, sha256: existing.sha256, size: existing.size)
                return PulledFile(
                    path: destination,
                    sha256: existing.sha256,
                    size: existing.size,
                    alreadyPresent: true,
                    resumedBytes: 0,
                    entry: entry
                )
            }
            // Other bytes: the file already there is kept, the download gets a distinct name.
            destination = try Placement.confined(Self.distinctName(name, sha256: result.sha256), in: folder)
            guard rename(target, destination) == 0 else {
                let code = errno
                try? FileManager.default.removeItem(atPath: target)
                throw FileError(path: destination, operation: "rename", code: code)
            }
        }
        try await writeSidecars(file, modelPath: destination)
        let entry = try await record(file, path: destination, sha256: result.sha256, size: result.size)
        logger.info("pulled", metadata: ["path": "\(destination)", "sha256": "\(result.sha256)", "bytes": "\(result.size)"])
        return PulledFile(
            path: destination,
            sha256: result.sha256,
            size: result.size,
            alreadyPresent: false,
            resumedBytes: result.resumedBytes,
            entry: entry
        )
    }

    /// `name-<first 8 hex of the SHA-256>.ext`: where a download goes when another file has its name.
    static func distinctName(_ filename: String, sha256: String) -> String {
        let name = filename as NSString
        let ext = name.pathExtension
        return "\(name.deletingPathExtension)-\(sha256.prefix(8))" + (ext.isEmpty ? "" : ".\(ext)")
    }

    /// Adds or refreshes the catalog entry of a pulled file.
    func record(_ file: PlannedFile, path: String, sha256: String, size: Int64) async throws -> CatalogEntry {
        let now = Timestamp.millis(Date())
        let existing = try await catalog.find(path: path)
        let id = existing?.id ?? ID.make("mdl")
        let baseKey = CatalogEntry.makeKey(file.subfolder == nil ? file.info.name : "\(file.info.name) \(file.request.filename)")
        var key = existing?.key ?? baseKey
        if existing == nil { key = try await catalog.availableKey(baseKey, for: id) }
        let entry = CatalogEntry(
            id: id,
            key: key,
            name: file.info.name,
            kind: file.info.kind,
            baseModel: file.info.baseModel,
            versionName: file.info.versionName,
            path: path,
            vaePath: existing?.vaePath,
            defaultNegative: existing?.defaultNegative,
            defaultWeight: existing?.defaultWeight ?? (file.info.kind == .lora ? 0.8 : nil),
            triggerWords: file.info.trainedWords,
            description: file.info.description,
            civitaiModelID: file.info.civitaiModelID,
            civitaiVersionID: file.info.civitaiVersionID,
            hfRepo: file.info.hfRepo,
            hfRevision: file.info.hfRevision,
            hfPath: file.info.hfPath,
            sha256: sha256,
            sizeBytes: size,
            status: .available,
            source: file.info.source,
            createdAt: existing?.createdAt ?? now,
            updatedAt: now
        )
        try await catalog.upsert(entry)
        return entry
    }

    /// `NAME.json` (A1111's extra-networks metadata, plus ours) and `NAME.preview.EXT`.
    func writeSidecars(_ file: PlannedFile, modelPath: String) async throws {
        let base = (modelPath as NSString).deletingPathExtension
        var metadata: [String: Any] = [
            "name": file.info.name, "kind": file.info.kind.rawValue, "source": file.info.source,
            "activation text": file.info.trainedWords.joined(separator: ", "), "trigger_words": file.info.trainedWords,
        ]
        if let base = file.info.baseModel {
            metadata["sd version"] = base
            metadata["base_model"] = base
        }
        if let version = file.info.versionName { metadata["version_name"] = version }
        if let id = file.info.civitaiModelID { metadata["civitai_model_id"] = id }
        if let id = file.info.civitaiVersionID { metadata["civitai_version_id"] = id }
        if let repo = file.info.hfRepo { metadata["hf_repo"] = repo }
        if file.info.kind == .lora { metadata["preferred weight"] = 0.8 }
        let json = try JSONSerialization.data(withJSONObject: metadata, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: base + ".json"), options: .atomic)
        if let preview = file.info.previewURL, let url = URL(string: preview) {
            do {
                let response = try await http.send(url: url, timeout: .seconds(30))
                let body = try await response.collect(limit: 20 << 20)
                let type = response.headers.first(name: "Content-Type") ?? ""
                if response.status == .ok, type.hasPrefix("image/") {
                    let ext = type.contains("jpeg") ? "jpg" : type.contains("webp") ? "webp" : "png"
                    try Data(buffer: body).write(to: URL(fileURLWithPath: base + ".preview.\(ext)"), options: .atomic)
                }
            } catch {
                logger.notice("preview not saved", metadata: ["url": "\(preview)", "error": "\(error)"])
            }
        }
    }
}

/// SHA-256 of a file on disk, read in 8 MiB blocks.
package enum FileHashing {
    package static func sha256(path: String) throws -> (sha256: String, size: Int64) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AppError.notFound("cannot open \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        while let block = try handle.read(upToCount: 8 << 20), !block.isEmpty {
            hasher.update(data: block)
            size += Int64(block.count)
        }
        return (hasher.finalize().hex, size)
    }
}
