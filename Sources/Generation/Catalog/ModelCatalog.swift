/// A catalog entry as generation needs it: what to call the file on a GPU, and the defaults the
/// catalog keeps for it (seed 003's `default_negative`, `default_weight`, `trigger_words`).
package struct CatalogModel: Sendable, Equatable {
    package var key: String
    package var kind: String
    package var fileName: String
    package var triggerWords: [String]
    package var defaultWeight: Double?
    package var defaultNegative: String?

    package init(
        key: String,
        kind: String,
        fileName: String,
        triggerWords: [String] = [],
        defaultWeight: Double? = nil,
        defaultNegative: String? = nil
    ) {
        self.key = key
        self.kind = kind
        self.fileName = fileName
        self.triggerWords = triggerWords
        self.defaultWeight = defaultWeight
        self.defaultNegative = defaultNegative
    }
}

/// Looks up the model catalog (Hub's, wired in AtelierApp; Generation does not import Hub).
package protocol ModelCatalog: Sendable {
    func lookup(_ key: String) async throws -> CatalogModel?
    /// Keys of the checkpoints, for error messages that say what exists.
    func checkpointKeys() async throws -> [String]
}

extension GenerationParams {
    /// Fills in what the catalog knows: the checkpoint's default negative prompt, each LoRA's
    /// default weight, and LoRA trigger words missing from the prompt.
    func applyingCatalog(_ catalog: any ModelCatalog) async throws -> GenerationParams {
        var params = self
        if let model, let entry = try await catalog.lookup(model), params.negative_prompt == nil {
            params.negative_prompt = entry.defaultNegative
        }
        if let loras {
            var filled: [LoraRef] = []
            for lora in loras {
                guard let entry = try await catalog.lookup(lora.name) else {
                    filled.append(lora)
                    continue
                }
                filled.append(LoraRef(name: lora.name, weight: lora.weight ?? entry.defaultWeight))
                for word in entry.triggerWords where !params.prompt.localizedCaseInsensitiveContains(word) {
                    params.prompt += ", \(word)"
                }
            }
            params.loras = filled
        }
        return params
    }
}
