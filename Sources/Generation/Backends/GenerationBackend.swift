import Foundation

/// One place images are made (an A1111 or ComfyUI instance, a RunPod endpoint, Replicate, the
/// mock). The worker gives it a job's parameters and gets PNG bytes back.
public protocol GenerationBackend: Sendable {
    /// Shown in results and queue stats (`mock@local`, `a1111@gpu-1`).
    var name: String { get }
    /// Jobs it can run at once.
    var concurrency: Int { get }
    func generate(_ params: GenerationParams, seed: Int64) async throws -> GeneratedImage
}

public struct GeneratedImage: Sendable {
    public var png: Data
    public var width: Int
    public var height: Int

    public init(png: Data, width: Int, height: Int) {
        self.png = png
        self.width = width
        self.height = height
    }
}

/// A backend failure. `retryable` ones (5xx, timeouts, cut connections) go back to the queue.
public struct BackendError: Error, CustomStringConvertible {
    public var backend: String
    public var message: String
    public var retryable: Bool

    public init(backend: String, message: String, retryable: Bool) {
        self.backend = backend
        self.message = message
        self.retryable = retryable
    }

    public var description: String { "\(backend): \(message)" }
}
