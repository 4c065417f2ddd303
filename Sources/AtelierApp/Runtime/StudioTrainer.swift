import Bots
import Core
import Foundation
import Generation
import Hub
import Logging

/// The studio's LoRA trainer: Replicate trains, and a succeeded training's LoRA is taken out of
/// its weights tar into this server's LoRA folder and added to the catalog under its own key, so
/// a generation that names the key uses it like any other LoRA.
struct ReplicateLoraTrainer: LoraTrainer {
    let trainings: ReplicateTrainings
    let hub: HubService
    let logger: Logger
    static let source = "replicate-training:"

    /// A person's trained LoRA (not a style for everyone).
    static func isTrained(_ entry: CatalogEntry) -> Bool { entry.source?.hasPrefix(source) == true }

    /// The largest weights archive fetched.
    var maxBytes: Int64 = 4 << 30

    func start(zip: Data, triggerWord: String, name: String) async throws -> String {
        try await trainings.start(zip: zip, triggerWord: triggerWord)
    }

    func status(training id: String) async throws -> TrainingStatus {
        let training = try await trainings.training(id)
        switch training.status {
        case "succeeded":
            guard let weights = training.weightsURL else { return .failed("the training finished without weights") }
            do {
                return .succeeded(loraName: try await install(weights, training: id))
            } catch let problem as TarReader.Problem {
                // Fetching again would give the same archive: the training is failed.
                return .failed("the trained weights are unusable: \(problem)")
            } catch let error as AppError {
                return .failed(error.detail)
            }
        case "failed", "canceled":
            return .failed(training.error ?? "the training was \(training.status)")
        default:
            return .running
        }
    }

    /// Fetches the weights, keeps the LoRA, and registers it; returns its catalog key.
    func install(_ weights: String, training id: String) async throws -> String {
        let safeID = String(id.filter { $0.isLetter || $0.isNumber }.prefix(40))
        let key = "studio-lora-\(safeID.lowercased())"
        if let entry = try await hub.catalog.find(key: key), entry.status == .available { return key }
        try FileManager.default.createDirectory(atPath: hub.settings.workDir, withIntermediateDirectories: true)
        let archive = (hub.settings.workDir as NSString).appendingPathComponent("training-\(safeID).tar")
        defer { try? FileManager.default.removeItem(atPath: archive) }
        try await trainings.download(weights, to: archive, maxBytes: maxBytes)
        let folder = try hub.layout(nil).folder(for: .lora)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let destination = (folder as NSString).appendingPathComponent("\(key).safetensors")
        guard try TarReader.extract(from: archive, to: destination, maxBytes: maxBytes, matching: { $0.hasSuffix(".safetensors") }) != nil else {
            throw AppError.unavailable("the trained weights hold no .safetensors file")
        }
        // Hashed now: GPU nodes that fetch it from this server check their copy against it.
        let hashed = try FileHashing.sha256(path: destination)
        var entry = CatalogEntry.local(
            key: key,
            name: "Studio LoRA \(safeID)",
            kind: .lora,
            path: destination,
            defaultWeight: 0.9,
            sizeBytes: hashed.size,
            source: Self.source + id,
            now: Timestamp.millis(Date())
        )
        entry.sha256 = hashed.sha256
        try await hub.catalog.upsert(entry)
        logger.info("studio: a trained LoRA is installed", metadata: ["key": "\(key)"])
        return key
    }
}
