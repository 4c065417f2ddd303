import Core
import Foundation

/// One model or LoRA the installation knows about (seed 003's `AVAILABLE_MODELS` /
/// `AVAILABLE_LORAS`, filled automatically by every pull).
package struct CatalogEntry: Sendable, Equatable, Codable {
    package enum Status: String, Sendable, Codable {
        /// The file is on disk.
        case available
        /// Known (imported or deleted from disk) but not on disk: a generation that needs it pulls it.
        case missing
    }

    package var id: String
    /// What API callers name it by (`"model": "realistic-vision"`).
    package var key: String
    package var name: String
    package var kind: ModelKind
    package var baseModel: String?
    package var versionName: String?
    /// File path (for HF whole-repo pulls, the folder), or the HF repo id for diffusers-style entries.
    package var path: String
    package var vaePath: String?
    package var defaultNegative: String?
    package var defaultWeight: Double?
    package var triggerWords: [String]
    package var description: String?
    package var civitaiModelID: Int?
    package var civitaiVersionID: Int?
    package var hfRepo: String?
    package var hfRevision: String?
    package var hfPath: String?
    package var sha256: String?
    package var sizeBytes: Int64?
    package var status: Status
    package var source: String?
    package var createdAt: Int64
    package var updatedAt: Int64

    /// An entry for a file this server made or placed itself (a trained LoRA): on disk, nothing
    /// to pull.
    package static func local(
        key: String,
        name: String,
        kind: ModelKind,
        path: String,
        defaultWeight: Double?,
        sizeBytes: Int64?,
        source: String,
        now: Int64
    ) -> CatalogEntry {
        CatalogEntry(
            id: ID.make("mdl"),
            key: key,
            name: name,
            kind: kind,
            path: path,
            defaultWeight: defaultWeight,
            triggerWords: [],
            sizeBytes: sizeBytes,
            status: .available,
            source: source,
            createdAt: now,
            updatedAt: now
        )
    }

    /// A key from a name: lower-case words joined by `-`.
    package static func makeKey(_ name: String) -> String {
        let allowed = CharacterSet.alphanumerics
        var key = ""
        var lastWasDash = false
        for scalar in name.lowercased().unicodeScalars {
            if allowed.contains(scalar) && scalar.isASCII {
                key.unicodeScalars.append(scalar)
                lastWasDash = false
            } else if !lastWasDash && !key.isEmpty {
                key += "-"
                lastWasDash = true
            }
        }
        while key.hasSuffix("-") { key.removeLast() }
        return key.isEmpty ? "model" : String(key.prefix(80))
    }
}

struct CatalogRow: Codable {
    var id: String
    var key: String
    var name: String
    var kind: String
    var base_model: String?
    var version_name: String?
    var path: String
    var vae_path: String?
    var default_negative: String?
    var default_weight: Double?
    var trigger_words: String
    var description: String?
    var civitai_model_id: Int?
    var civitai_version_id: Int?
    var hf_repo: String?
    var hf_revision: String?
    var hf_path: String?
    var sha256: String?
    var size_bytes: Int64?
    var status: String
    var source: String?
    var created_at: Int64
    var updated_at: Int64

    init(_ entry: CatalogEntry) {
        id = entry.id
        key = entry.key
        name = entry.name
        kind = entry.kind.rawValue
        base_model = entry.baseModel
        version_name = entry.versionName
        path = entry.path
        vae_path = entry.vaePath
        default_negative = entry.defaultNegative
        default_weight = entry.defaultWeight
        trigger_words = (try? String(decoding: JSONEncoder().encode(entry.triggerWords), as: UTF8.self)) ?? "[]"
        description = entry.description
        civitai_model_id = entry.civitaiModelID
        civitai_version_id = entry.civitaiVersionID
        hf_repo = entry.hfRepo
        hf_revision = entry.hfRevision
        hf_path = entry.hfPath
        sha256 = entry.sha256
        size_bytes = entry.sizeBytes
        status = entry.status.rawValue
        source = entry.source
        created_at = entry.createdAt
        updated_at = entry.updatedAt
    }

    func entry() -> CatalogEntry {
        CatalogEntry(
            id: id,
            key: key,
            name: name,
            kind: ModelKind(rawValue: kind) ?? .other,
            baseModel: base_model,
            versionName: version_name,
            path: path,
            vaePath: vae_path,
            defaultNegative: default_negative,
            defaultWeight: default_weight,
            triggerWords: (try? JSONDecoder().decode([String].self, from: Data(trigger_words.utf8))) ?? [],
            description: description,
            civitaiModelID: civitai_model_id,
            civitaiVersionID: civitai_version_id,
            hfRepo: hf_repo,
            hfRevision: hf_revision,
            hfPath: hf_path,
            sha256: sha256,
            sizeBytes: size_bytes,
            status: CatalogEntry.Status(rawValue: status) ?? .missing,
            source: source,
            createdAt: created_at,
            updatedAt: updated_at
        )
    }
}
