import Core
import Foundation

// The JSON stored in the jobs table, written once per job (parameters at enqueue, the result at
// the end) by `JSONObjectWriter` rather than `JSONEncoder` (see there why). The same fields in
// the same order as the synthesized `Codable` conformances, which still read them back.

extension GenerationParams {
    var storedJSON: String {
        var json = JSONObjectWriter(capacity: 128 + prompt.utf8.count + (init_image?.utf8.count ?? 0))
        json.field("prompt", prompt)
        json.field("negative_prompt", negative_prompt)
        json.field("width", width)
        json.field("height", height)
        json.field("steps", steps)
        json.field("seed", seed)
        json.field("model", model)
        json.field("cfg_scale", cfg_scale)
        if let loras {
            json.field("loras", objects: loras) { object, lora in
                object.field("name", lora.name)
                object.field("weight", lora.weight)
            }
        }
        json.field("init_image", init_image)
        json.field("denoising_strength", denoising_strength)
        return json.text()
    }
}

extension JobResult {
    var storedJSON: String {
        var json = JSONObjectWriter()
        json.field("images", strings: images)
        json.field("seed", seed)
        json.field("width", width)
        json.field("height", height)
        json.field("model", model)
        json.field("backend", backend)
        json.field("queue_ms", queue_ms)
        json.field("run_ms", run_ms)
        return json.text()
    }
}

extension GenerationParams {
    /// Reads parameters stored by `storedJSON`, or any older JSON of them (through `JSONDecoder`
    /// when the quick reader declines: escapes in a string, an unknown field).
    init(storedJSON text: String) throws {
        if let quick = Self.quick(text) {
            self = quick
        } else {
            self = try JSONDecoder().decode(GenerationParams.self, from: Data(text.utf8))
        }
    }

    /// Nil when anything is not as `storedJSON` writes it; the caller then decodes the usual way.
    static func quick(_ text: String) -> GenerationParams? {
        var scanner = JSONScanner(text)
        guard scanner.beginObject() else { return nil }
        var params = GenerationParams(prompt: "")
        var seen = (prompt: false, width: false, height: false, steps: false)
        var first = true
        while let key = scanner.nextKey(first: first) {
            first = false
            if scanner.null() { continue }
            switch key {
            case "prompt":
                guard let value = scanner.string() else { return nil }
                params.prompt = value
                seen.prompt = true
            case "negative_prompt":
                guard let value = scanner.string() else { return nil }
                params.negative_prompt = value
            case "width":
                guard let value = scanner.int().flatMap(Int.init(exactly:)) else { return nil }
                params.width = value
                seen.width = true
            case "height":
                guard let value = scanner.int().flatMap(Int.init(exactly:)) else { return nil }
                params.height = value
                seen.height = true
            case "steps":
                guard let value = scanner.int().flatMap(Int.init(exactly:)) else { return nil }
                params.steps = value
                seen.steps = true
            case "seed":
                guard let value = scanner.int() else { return nil }
                params.seed = value
            case "model":
                guard let value = scanner.string() else { return nil }
                params.model = value
            case "cfg_scale":
                guard let value = scanner.double() else { return nil }
                params.cfg_scale = value
            case "init_image":
                guard let value = scanner.string() else { return nil }
                params.init_image = value
            case "denoising_strength":
                guard let value = scanner.double() else { return nil }
                params.denoising_strength = value
            case "loras":
                guard let value = Self.quickLoras(&scanner) else { return nil }
                params.loras = value
            default: return nil
            }
        }
        guard !scanner.failed, scanner.atEnd(), seen.prompt, seen.width, seen.height, seen.steps else { return nil }
        return params
    }

    /// `[{"name": …, "weight": …}, …]`, as `LoraRef` decodes it; nil when anything else is there.
    static func quickLoras(_ scanner: inout JSONScanner) -> [LoraRef]? {
        guard scanner.beginArray() else { return nil }
        var loras: [LoraRef] = []
        var firstLora = true
        while scanner.nextElement(first: firstLora) {
            firstLora = false
            guard scanner.beginObject() else { return nil }
            var lora = LoraRef(name: "")
            var named = false
            var firstField = true
            while let field = scanner.nextKey(first: firstField) {
                firstField = false
                let isNull = scanner.null()
                switch field {
                case "name":
                    guard !isNull, let value = scanner.string() else { return nil }
                    lora.name = value
                    named = true
                case "weight":
                    if isNull {
                        lora.weight = nil
                        continue
                    }
                    guard let value = scanner.double() else { return nil }
                    lora.weight = value
                default: return nil
                }
            }
            guard !scanner.failed, named else { return nil }
            loras.append(lora)
        }
        return scanner.failed ? nil : loras
    }
}
