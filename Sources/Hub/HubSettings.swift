import Core
import Foundation

/// The hub's configuration, taken from `AppConfig` by the composition root.
package struct HubSettings: Sendable {
    package var civitaiURL: URL
    package var civitaiToken: Secret?
    package var huggingFaceEndpoint: URL
    package var huggingFaceToken: Secret?
    /// Root of the models folder for the `atelier`, `a1111` and `comfyui` layouts.
    package var modelsRoot: String
    /// Partial downloads; on the same filesystem as the models, so the final rename is atomic.
    package var workDir: String
    package var defaultLayout: String
    package var allowPrivateHosts: Bool
    /// Connections per file; nil lets each download choose (`ConnectionTuner`).
    package var connections: Int?
    /// Process-wide download bandwidth cap in bytes per second (nil = none).
    package var maxBytesPerSecond: Int?

    package init(
        civitaiURL: URL,
        civitaiToken: Secret?,
        huggingFaceEndpoint: URL,
        huggingFaceToken: Secret?,
        modelsRoot: String,
        workDir: String,
        defaultLayout: String,
        allowPrivateHosts: Bool,
        connections: Int?,
        maxBytesPerSecond: Int? = nil
    ) {
        self.maxBytesPerSecond = maxBytesPerSecond
        self.civitaiURL = civitaiURL
        self.civitaiToken = civitaiToken
        self.huggingFaceEndpoint = huggingFaceEndpoint
        self.huggingFaceToken = huggingFaceToken
        self.modelsRoot = modelsRoot
        self.workDir = workDir
        self.defaultLayout = defaultLayout
        self.allowPrivateHosts = allowPrivateHosts
        self.connections = connections
    }
}

/// What is known about a file before it is pulled.
package struct ModelInfo: Sendable, Codable, Equatable {
    package var name: String
    package var versionName: String?
    package var kind: ModelKind
    package var baseModel: String?
    package var trainedWords: [String]
    package var description: String?
    package var civitaiModelID: Int?
    package var civitaiVersionID: Int?
    package var hfRepo: String?
    package var hfRevision: String?
    package var hfPath: String?
    package var previewURL: String?
    package var source: String
}

/// One file to pull.
package struct PlannedFile: Sendable {
    package var request: FileRequest
    package var info: ModelInfo
    /// Folders below the type folder (a whole Hugging Face repository keeps its structure).
    package var subfolder: String?
}

/// One file pulled (or found already present).
package struct PulledFile: Sendable {
    package var path: String
    package var sha256: String
    package var size: Int64
    /// True when a file with the same content was already there and nothing was downloaded.
    package var alreadyPresent: Bool
    package var resumedBytes: Int64
    package var entry: CatalogEntry
}
