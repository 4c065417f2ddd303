import Foundation

/// A ComfyUI workflow in API format with placeholders, filled in for one job.
///
/// A string that is exactly `{{seed}}`, `{{steps}}`, `{{width}}`, `{{height}}`, `{{cfg}}` or
/// `{{denoise}}` becomes a number; `{{prompt}}`, `{{negative}}`, `{{checkpoint}}` and
/// `{{init_image}}` (img2img: the source picture's name in ComfyUI's input folder, for a
/// `LoadImage` node) are replaced inside any string. LoRAs need no placeholder: a `LoraLoader`
/// node per LoRA is chained after the first `CheckpointLoaderSimple`, and the nodes that used the
/// checkpoint's MODEL and CLIP outputs are rewired to the last LoRA.
package struct ComfyWorkflow: Sendable {
    /// The template as JSON text (kept as text so the type stays `Sendable`).
    package let template: String

    package init(template: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(template.utf8)) as? [String: Any], !object.isEmpty else {
            throw WorkflowError(message: "the workflow must be a JSON object of nodes in ComfyUI's API format (Save (API) in ComfyUI)")
        }
        guard object.values.allSatisfy({ ($0 as? [String: Any])?["class_type"] is String }) else {
            throw WorkflowError(message: "every node of the workflow needs a class_type (export it with Save (API), not Save)")
        }
        self.template = template
    }

    /// For the built-in workflow below, a literal the tests render (`BackendTests.comfyUI`).
    private init(builtIn template: String) { self.template = template }

    package struct WorkflowError: Error, CustomStringConvertible {
        package var message: String
        package var description: String { message }
    }

    /// Standard text-to-image: checkpoint → prompt encoders → KSampler → VAE decode → save.
    package static let standard = ComfyWorkflow(
        builtIn: """
            {
              "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": "{{steps}}", "cfg": "{{cfg}}", "sampler_name": "euler",
                    "scheduler": "normal", "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
              "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
              "5": {"class_type": "EmptyLatentImage", "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": 1}},
              "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
              "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative}}", "clip": ["4", 1]}},
              "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
              "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "atelier", "images": ["8", 0]}}
            }
            """
    )

    /// Standard image-to-image: the uploaded picture → scaled to the job's size → VAE encode →
    /// KSampler at the job's denoising strength → VAE decode → save.
    package static let standardImg2Img = ComfyWorkflow(
        builtIn: """
            {
              "3": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": "{{steps}}", "cfg": "{{cfg}}", "sampler_name": "euler",
                    "scheduler": "normal", "denoise": "{{denoise}}", "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
              "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{checkpoint}}"}},
              "5": {"class_type": "VAEEncode", "inputs": {"pixels": ["11", 0], "vae": ["4", 2]}},
              "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
              "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative}}", "clip": ["4", 1]}},
              "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
              "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "atelier", "images": ["8", 0]}},
              "10": {"class_type": "LoadImage", "inputs": {"image": "{{init_image}}"}},
              "11": {"class_type": "ImageScale", "inputs": {"image": ["10", 0], "upscale_method": "lanczos", "width": "{{width}}",
                     "height": "{{height}}", "crop": "center"}}
            }
            """
    )

    /// Whether the template has somewhere to put an img2img source picture.
    package var takesInitImage: Bool { template.contains("{{init_image}}") }

    /// The workflow for one job, as a JSON object ready for `/prompt`. `initImage` is the name
    /// ComfyUI gave the uploaded source picture (img2img only).
    func render(_ job: BackendJob, checkpoint: String?, initImage: String? = nil) throws -> [String: Any] {
        let params = job.params
        let numbers: [String: Any] = [
            "{{seed}}": job.seed, "{{steps}}": params.steps, "{{width}}": params.width, "{{height}}": params.height,
            // A1111's img2img default is 0.75; text-to-image always denoises fully.
            "{{cfg}}": params.cfg_scale ?? 7, "{{denoise}}": params.denoising_strength ?? (initImage == nil ? 1 : 0.75),
        ]
        if checkpoint == nil && template.contains("{{checkpoint}}") {
            throw WorkflowError(message: "the job names no model and the worker has no default checkpoint (set options.default_checkpoint)")
        }
        if initImage == nil && takesInitImage {
            throw WorkflowError(message: "this workflow loads a source picture ({{init_image}}) but the job has no init_image")
        }
        let texts = [
            ("{{prompt}}", params.prompt), ("{{negative}}", params.negative_prompt ?? ""), ("{{checkpoint}}", checkpoint ?? ""),
            ("{{init_image}}", initImage ?? ""),
        ]
        func fill(_ value: Any) -> Any {
            switch value {
            case let text as String:
                if let number = numbers[text] { return number }
                return texts.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
            case let array as [Any]: return array.map(fill)
            case let object as [String: Any]: return object.mapValues(fill)
            default: return value
            }
        }
        let object = try JSONSerialization.jsonObject(with: Data(template.utf8)) as? [String: Any] ?? [:]
        var workflow = object.mapValues(fill) as [String: Any]
        try Self.chainLoras(params.loras ?? [], into: &workflow)
        if let vae = job.vae { try Self.loadVAE(vae, into: &workflow) }
        return workflow
    }

    /// The catalog's VAE for the checkpoint: a `VAELoader` node, and every input that took the
    /// checkpoint loader's VAE output (VAE decode, and encode for img2img) rewired to it.
    static func loadVAE(_ name: String, into workflow: inout [String: Any]) throws {
        let loaders = Set(
            workflow.compactMap { id, node in
                (node as? [String: Any])?["class_type"] as? String == "CheckpointLoaderSimple" ? id : nil
            }
        )
        guard !loaders.isEmpty else {
            throw WorkflowError(
                message:
                    "the checkpoint's catalog entry names a VAE (\(name)) but the workflow has no CheckpointLoaderSimple whose VAE output it could replace"
            )
        }
        let id = "atelier_vae"
        var wired = 0
        for (nodeID, node) in workflow {
            guard var node = node as? [String: Any], var inputs = node["inputs"] as? [String: Any] else { continue }
            for (input, value) in inputs {
                if let link = value as? [Any], link.count == 2, let from = link[0] as? String, loaders.contains(from), link[1] as? Int == 2 {
                    inputs[input] = [id, 0] as [Any]
                    wired += 1
                }
            }
            node["inputs"] = inputs
            workflow[nodeID] = node
        }
        guard wired > 0 else {
            throw WorkflowError(message: "the checkpoint's catalog entry names a VAE (\(name)) but no node of the workflow uses the checkpoint's VAE")
        }
        workflow[id] = ["class_type": "VAELoader", "inputs": ["vae_name": name] as [String: Any]] as [String: Any]
    }

    static func chainLoras(_ loras: [LoraRef], into workflow: inout [String: Any]) throws {
        guard !loras.isEmpty else { return }
        guard
            let loader = workflow.keys.sorted().first(where: {
                (workflow[$0] as? [String: Any])?["class_type"] as? String == "CheckpointLoaderSimple"
            })
        else {
            throw WorkflowError(message: "the workflow has no CheckpointLoaderSimple node to attach LoRAs to")
        }
        var previous = loader
        var added: Set<String> = []
        for (index, lora) in loras.enumerated() {
            let id = "atelier_lora_\(index + 1)"
            let file = lora.name.contains(".") ? lora.name : "\(lora.name).safetensors"
            workflow[id] =
                [
                    "class_type": "LoraLoader",
                    "inputs": [
                        "lora_name": file, "strength_model": lora.weight ?? 1, "strength_clip": lora.weight ?? 1,
                        "model": [previous, 0], "clip": [previous, 1],
                    ] as [String: Any],
                ] as [String: Any]
            added.insert(id)
            previous = id
        }
        for (id, node) in workflow where !added.contains(id) {
            guard var node = node as? [String: Any], var inputs = node["inputs"] as? [String: Any] else { continue }
            for (name, value) in inputs {
                if let link = value as? [Any], link.count == 2, link[0] as? String == loader, let output = link[1] as? Int, output < 2 {
                    inputs[name] = [previous, output] as [Any]
                }
            }
            node["inputs"] = inputs
            workflow[id] = node
        }
    }
}
