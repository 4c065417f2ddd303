import Core

/// Every bound on what the generation and worker routes take, in one place: the checks and the
/// OpenAPI document both read these. Lengths are Unicode code points (JSON Schema's `maxLength`).
package enum GenerationBounds {
    package static let prompt = 4000
    /// The same as a prompt: it is stored with the job and shown in every list of generations.
    package static let negativePrompt = 4000
    package static let batch = 100
    /// Model and LoRA names (file or catalog names).
    package static let name = 200
    package static let loras = 8
    /// img2img source picture, as base64 text.
    package static let initImageBytes = 16 << 20

    package static let workerName = 64
    package static let endpoint = 2048
    package static let token = 4096
    package static let workerModels = 200
    package static let nodeID = 64
    package static let backend = 32
    /// ComfyUI workflow templates (`options.workflow`, `options.img2img_workflow`), written out.
    package static let workflowBytes = 1 << 20
    /// Short option texts: `options.default_checkpoint`, `options.model`, `options.version`.
    package static let optionText = 200
}

extension GenerationRequest: BoundedInput {
    /// The batch's size and each prompt's length (named `prompts[i]`), before any prompt is
    /// turned into a job; the single-prompt fields are checked by `GenerationParams.validated()`.
    func checkBounds() throws {
        try Bounded.items(prompts, field: "prompts", max: GenerationBounds.batch)
        for (index, prompt) in (prompts ?? []).enumerated() {
            try Bounded.text(prompt.trimmingWhitespace, field: "prompts[\(index)]", max: GenerationBounds.prompt)
        }
        try Bounded.text(negative_prompt, field: "negative_prompt", max: GenerationBounds.negativePrompt)
        try Bounded.items(loras, field: "loras", max: GenerationBounds.loras)
    }
}

extension ModelGenerateCompatRoutes.Body: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(negative_prompt, field: "negative_prompt", max: GenerationBounds.negativePrompt)
        try Bounded.items(loras, field: "loras", max: GenerationBounds.loras)
    }
}

extension WorkerInput: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(name, field: "name", max: GenerationBounds.workerName)
        try Bounded.text(backend, field: "backend", max: GenerationBounds.backend)
        try Bounded.text(endpoint, field: "endpoint", max: GenerationBounds.endpoint)
        try Bounded.text(token, field: "token", max: GenerationBounds.token)
        try Bounded.texts(models, field: "models", maxItems: GenerationBounds.workerModels, maxLength: GenerationBounds.name)
        try Bounded.text(node_id, field: "node_id", max: GenerationBounds.nodeID)
        if let options {
            try Bounded.json(options.workflow, field: "options.workflow", maxBytes: GenerationBounds.workflowBytes)
            try Bounded.json(options.img2img_workflow, field: "options.img2img_workflow", maxBytes: GenerationBounds.workflowBytes)
            try Bounded.text(options.default_checkpoint, field: "options.default_checkpoint", max: GenerationBounds.optionText)
            try Bounded.text(options.model, field: "options.model", max: GenerationBounds.optionText)
            try Bounded.text(options.version, field: "options.version", max: GenerationBounds.optionText)
        }
    }
}
