import Foundation

/// One place images are made (an A1111 or ComfyUI instance, a RunPod endpoint, Replicate, the
/// mock). The worker hands it one job at a time per slot and gets PNG bytes back. Cancelling the
/// calling task cancels the job upstream too (interrupt, queue delete, cancel call).
package protocol GenerationBackend: Sendable {
    /// Shown in results and queue stats (`mock@local`, `a1111@gpu-1`).
    var name: String { get }
    /// The checkpoint it has loaded now, when the backend can tell (A1111 can); nil when unknown.
    func loadedModel() async throws -> String?
    /// Runs one job. `progress` gets values from 0 to 1 when the backend reports them.
    func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage
    /// A cheap reachability check (`/health`, `/sdapi/v1/options`…); throws `BackendError`.
    func check() async throws
}

/// A job as a backend sees it: the parameters with the seed fixed, and the VAE the checkpoint's
/// catalog entry names (its file name where the backend runs; nil: the checkpoint's own).
package struct BackendJob: Sendable {
    package var id: String
    package var params: GenerationParams
    package var seed: Int64
    package var vae: String?

    package init(id: String, params: GenerationParams, seed: Int64, vae: String? = nil) {
        self.id = id
        self.params = params
        self.seed = seed
        self.vae = vae
    }
}

package struct GeneratedImage: Sendable {
    package var png: Data
    package var width: Int
    package var height: Int

    package init(png: Data, width: Int, height: Int) {
        self.png = png
        self.width = width
        self.height = height
    }

    /// An image whose size is read from its PNG header (falling back to the requested size).
    package init(png: Data, requested params: GenerationParams) {
        let size = ImageData.pngSize(png)
        self.init(png: png, width: size?.width ?? params.width, height: size?.height ?? params.height)
    }
}

/// A backend failure. `retryable` ones (5xx, timeouts, cut connections) go back to the queue;
/// the rest fail the job at once. The description names the backend, so a failed job says
/// which upstream failed.
package struct BackendError: Error, CustomStringConvertible {
    package var backend: String
    package var message: String
    package var retryable: Bool

    package init(backend: String, message: String, retryable: Bool) {
        self.backend = backend
        self.message = message
        self.retryable = retryable
    }

    package var description: String { "\(backend): \(message)" }
}
