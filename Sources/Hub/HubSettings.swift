import Core
import Foundation

/// The hub's configuration, taken from `AppConfig` by the composition root.
public struct HubSettings: Sendable {
    public var civitaiURL: URL
    public var civitaiToken: Secret?
    public var huggingFaceEndpoint: URL
    public var huggingFaceToken: Secret?
    /// Root of the models folder for the `atelier`, `a1111` and `comfyui` layouts.
    public var modelsRoot: String
    /// Partial downloads; on the same filesystem as the models, so the final rename is atomic.
    public var workDir: String
    public var defaultLayout: String
    public var allowPrivateHosts: Bool
    public var connections: Int
    /// Process-wide download bandwidth cap in bytes per second (nil = none).
    public var maxBytesPerSecond: Int?

    public init(civitaiURL: URL, civitaiToken: Secret?, huggingFaceEndpoint: URL, huggingFaceToken: Secret?,
                modelsRoot: String, workDir: String, defaultLayout: String, allowPrivateHosts: Bool, connections: Int,
                maxBytesPerSecond: Int? = nil) {
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
public struct ModelInfo: Sendable, Codable, Equatable {
    public var name: String
    public var versionName: String?
    public var kind: ModelKind
    public var baseModel: String?
    public var trainedWords: [String]
    public var description: String?
    public var civitaiModelID: Int?
    public var civitaiVersionID: Int?
    public var hfRepo: String?
    public var hfRevision: String?
    public var hfPath: String?
    public var previewURL: String?
    public var source: String
}

/// One file to pull.
public struct PlannedFile: Sendable {
    public var request: FileRequest
    public var info: ModelInfo
    /// Folders below the type folder (a whole Hugging Face repository keeps its structure).
    public var subfolder: String?
}

/// One file pulled (or found already present).
public struct PulledFile: Sendable {
    public var path: String
    public var sha256: String
    public var size: Int64
    /// True when a file with the same content was already there and nothing was downloaded.
    public var alreadyPresent: Bool
    public var resumedBytes: Int64
    public var entry: CatalogEntry
}
