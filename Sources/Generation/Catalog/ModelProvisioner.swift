/// Makes sure the models a job names are where its worker can load them, pulling missing catalog
/// entries through the hub, and returns the parameters with catalog names turned into the file
/// names the backend knows. Implemented in AtelierApp (Generation does not import Hub).
package protocol ModelProvisioner: Sendable {
    func prepare(_ params: GenerationParams, for worker: GPUWorker) async throws -> PreparedModels
}

/// The parameters with file names in place of catalog keys, and the VAE the checkpoint's entry
/// names (`vae_path`), ready where the worker runs.
package struct PreparedModels: Sendable {
    package var params: GenerationParams
    package var vae: String?

    package init(params: GenerationParams, vae: String? = nil) {
        self.params = params
        self.vae = vae
    }
}
