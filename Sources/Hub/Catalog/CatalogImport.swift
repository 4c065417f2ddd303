import Core
import Foundation

/// Seed 003's `models_config`: `AVAILABLE_MODELS` and `AVAILABLE_LORAS`, keyed by the name API
/// callers use, as JSON with the same field names:
/// `{"AVAILABLE_MODELS": {"key": {"name", "path", "vae_path", "default_negative", "description"}},
///   "AVAILABLE_LORAS": {"key": {"name", "path", "default_weight", "trigger_words", "description", "civitai_model_id"}}}`
/// (lower-case `models`/`loras` are accepted too).
package struct CatalogImport: Decodable, Sendable {
    package struct Item: Decodable, Sendable {
        package var name: String
        package var path: String?
        package var vae_path: String?
        package var default_negative: String?
        package var default_weight: Double?
        package var trigger_words: [String]?
        package var description: String?
        package var civitai_model_id: Int?
        package var civitai_version_id: Int?
        package var base_model: String?
    }

    package var models: [String: Item]
    package var loras: [String: Item]

    enum CodingKeys: String, CodingKey {
        case AVAILABLE_MODELS, AVAILABLE_LORAS, models, loras
    }

    package init(models: [String: Item], loras: [String: Item]) {
        self.models = models
        self.loras = loras
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        models =
            try c.decodeIfPresent([String: Item].self, forKey: .AVAILABLE_MODELS)
            ?? c.decodeIfPresent([String: Item].self, forKey: .models) ?? [:]
        loras =
            try c.decodeIfPresent([String: Item].self, forKey: .AVAILABLE_LORAS)
            ?? c.decodeIfPresent([String: Item].self, forKey: .loras) ?? [:]
    }

    package struct Outcome: Sendable, Encodable {
        package var created: [String]
        package var updated: [String]
    }

    /// Writes every item to the catalog: a local path that exists makes it `available`, anything
    /// else (a Hugging Face repo id, a Civitai id) is `missing` until pulled.
    package func apply(to catalog: CatalogStore, now: Int64 = Timestamp.millis(Date())) async throws -> Outcome {
        var outcome = Outcome(created: [], updated: [])
        for (kind, items) in [(ModelKind.checkpoint, models), (.lora, loras)] {
            for (rawKey, item) in items.sorted(by: { $0.key < $1.key }) {
                let key = CatalogEntry.makeKey(rawKey)
                let existing = try await catalog.find(key: key)
                let path = item.path ?? ""
                let isLocal = path.hasPrefix("/") || path.hasPrefix("./")
                let onDisk = isLocal && FileManager.default.fileExists(atPath: path)
                let hfRepo = !isLocal && path.split(separator: "/").count == 2 ? path : nil
                let entry = CatalogEntry(
                    id: existing?.id ?? ID.make("mdl"),
                    key: key,
                    name: item.name,
                    kind: kind,
                    baseModel: item.base_model,
                    versionName: nil,
                    path: path,
                    vaePath: item.vae_path,
                    defaultNegative: item.default_negative,
                    defaultWeight: item.default_weight ?? (kind == .lora ? 0.8 : nil),
                    triggerWords: item.trigger_words ?? [],
                    description: item.description,
                    civitaiModelID: item.civitai_model_id,
                    civitaiVersionID: item.civitai_version_id,
                    hfRepo: hfRepo,
                    hfRevision: hfRepo == nil ? nil : "main",
                    hfPath: nil,
                    sha256: existing?.sha256,
                    sizeBytes: existing?.sizeBytes,
                    status: onDisk || existing?.status == .available ? .available : .missing,
                    source: "import",
                    createdAt: existing?.createdAt ?? now,
                    updatedAt: now
                )
                try await catalog.upsert(entry)
                if existing == nil { outcome.created.append(key) } else { outcome.updated.append(key) }
            }
        }
        return outcome
    }
}
