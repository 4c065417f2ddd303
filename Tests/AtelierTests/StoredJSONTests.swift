import Core
import Foundation
import NIOCore
import Testing

@testable import Generation

/// The jobs table's JSON is written by `JSONObjectWriter` and read back by `JSONScanner` (falling
/// back to `JSONDecoder`): both must agree with Foundation's reading of JSON.
@Suite("Stored job JSON: written by hand, read by Foundation and by the quick reader", .timeLimit(.minutes(5)))
struct StoredJSONTests {
    static let samples: [GenerationParams] = [
        GenerationParams(prompt: "a lighthouse at dusk, oil painting"),
        GenerationParams(
            prompt: "Лиса в лесу, 桜, émoji 🦊",
            negative_prompt: "blurry",
            width: 512,
            height: 768,
            steps: 1,
            seed: 0,
            model: "sdxl-base",
            cfg_scale: 7.5,
            loras: [LoraRef(name: "add-detail", weight: 0.75), LoraRef(name: "style")],
            denoising_strength: 1e-05
        ),
        GenerationParams(
            prompt: "quotes \" and \\ backslash / slash\nnew line\ttab \u{01} control",
            negative_prompt: "",
            seed: 9_223_372_036_854_775_807,
            cfg_scale: 0,
            loras: [],
            init_image: "data:image/png;base64,iVBORw0KGgo=",
            denoising_strength: 0.35
        ),
        GenerationParams(prompt: "negative weight", steps: 150, seed: 42, loras: [LoraRef(name: "slider", weight: -4.5)]),
    ]

    @Test("every sample reads back equal through JSONDecoder and through GenerationParams(storedJSON:)")
    func roundTrip() throws {
        for params in Self.samples {
            let text = params.storedJSON
            #expect(try JSONDecoder().decode(GenerationParams.self, from: Data(text.utf8)) == params, "\(text)")
            #expect(try GenerationParams(storedJSON: text) == params, "\(text)")
        }
    }

    @Test("the quick reader takes plain documents and declines escapes, unknown fields and malformed ones")
    func quickReaderDeclines() throws {
        #expect(GenerationParams.quick(Self.samples[0].storedJSON) == Self.samples[0])
        #expect(GenerationParams.quick(Self.samples[1].storedJSON) == Self.samples[1])
        #expect(GenerationParams.quick(Self.samples[3].storedJSON) == Self.samples[3])
        // Escapes: declined, and the fallback still reads them.
        #expect(GenerationParams.quick(Self.samples[2].storedJSON) == nil)
        let base = #"{"prompt":"p","width":512,"height":512,"steps":20"#
        #expect(GenerationParams.quick(base + "}") == GenerationParams(prompt: "p", width: 512, height: 512, steps: 20))
        #expect(GenerationParams.quick(base + #","sampler":"euler"}"#) == nil)  // unknown field
        #expect(GenerationParams.quick(base + "} x") == nil)  // trailing text
        #expect(GenerationParams.quick(base) == nil)  // unterminated
        #expect(GenerationParams.quick(#"{"prompt":"p","width":512,"height":512}"#) == nil)  // steps missing
        #expect(GenerationParams.quick(base + #","seed":1.5}"#) == nil)  // not a whole number
        #expect(GenerationParams.quick(base + #" "seed":1}"#) == nil)  // missing comma
        #expect(GenerationParams.quick(base + #","loras":[{"weight":1}]}"#) == nil)  // LoRA without a name
        #expect(
            GenerationParams.quick(#" { "prompt" : "p" , "width" : 512 , "height" : 512 , "steps" : 20 , "model" : null } "#)
                == GenerationParams(prompt: "p", width: 512, height: 512, steps: 20)
        )
    }

    @Test("rows written by JSONEncoder before (slashes escaped, keys in any order) still read")
    func olderRows() throws {
        let params = GenerationParams(prompt: "a/b", model: "models/sdxl.safetensors", loras: [LoraRef(name: "x/y", weight: 1)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let old = String(decoding: try encoder.encode(params), as: UTF8.self)
        #expect(old.contains(#"\/"#))
        #expect(try GenerationParams(storedJSON: old) == params)
    }

    @Test("a result reads back through JSONDecoder; numbers JSON cannot hold are written as null")
    func resultAndNonFinite() throws {
        let result = JobResult(
            images: ["ab" + String(repeating: "0", count: 62)],
            seed: 7,
            width: 832,
            height: 1216,
            model: nil,
            backend: "mock@local \"quoted\"",
            queue_ms: 12,
            run_ms: 3
        )
        #expect(try JSONDecoder().decode(JobResult.self, from: Data(result.storedJSON.utf8)) == result)
        var json = JSONObjectWriter()
        json.field("a", Double.nan)
        json.field("b", Double.infinity)
        json.field("c", 0.5)
        #expect(json.text() == #"{"a":null,"b":null,"c":0.5}"#)
    }
}

/// Enqueue bodies are read by `GenerationRequest.quickDecode` when they have the usual shape and
/// by `JSONDecoder` otherwise: wherever the quick reader answers, it must answer what
/// `JSONDecoder` does, and it must decline what `JSONDecoder` rejects.
@Suite("Request bodies: the quick reader agrees with JSONDecoder", .timeLimit(.minutes(5)))
struct QuickRequestTests {
    static let bodies: [String] = [
        #"{"prompt": "a lighthouse at dusk, oil painting", "width": 832, "height": 1216, "steps": 30}"#,
        #"{"prompts": ["one", "two", "Лиса 🦊"], "seed": -9007199254740993, "model": "sdxl", "priority": -100}"#,
        #"{"prompt":"x","negative_prompt":null,"cfg_scale":7,"denoising_strength":0.35,"use_enhanced_prompts":true,"loras":[{"name":"a","weight":-0.5},{"name":"b","weight":null},{"name":"c"}]}"#,
        #" { "prompt" : "spaces" , "steps" : 0 , "prompts" : [ ] } "#,
        #"{"prompt": "e", "cfg_scale": 1e2, "denoising_strength": -0.0, "init_image": "data:image/png;base64,iVBORw0KGgo="}"#,
        #"{"prompt": "big", "seed": 123456789012345678}"#,
        // What the quick reader leaves to JSONDecoder (or JSONDecoder rejects):
        #"{"prompt": "escaped \" quote \u00e9"}"#,
        #"{"prompt": "dup", "prompt": "twice"}"#,
        #"{"prompt": "unknown field", "style": "noir"}"#,
        #"{"prompt": "fraction", "width": 512.0}"#,
        #"{"prompt": "19 digits", "seed": 1234567890123456789}"#,
        #"{"prompt": "too big", "seed": 92233720368547758070}"#,
        #"{"prompt": "leading zero", "width": 0512}"#,
        #"{"prompt": "plus", "cfg_scale": +7}"#,
        #"{"prompt": "dot", "cfg_scale": .5}"#,
        #"{"prompt": "trailing dot", "cfg_scale": 5.}"#,
        #"{"prompt": "string number", "width": "512"}"#,
        #"{"prompt": "bool as int", "use_enhanced_prompts": 1}"#,
        #"{"prompt": "trailing comma",}"#,
        #"{"prompt": "unterminated"#,
        #"{"prompt": "garbage after"} x"#,
        #"["prompt"]"#,
        #"{"prompts": ["a", 1]}"#,
        #"{"loras": [{"weight": 1}]}"#,
        #"{"loras": [{"name": "a", "extra": 1}]}"#,
        "{\"prompt\": \"raw\ttab\"}",
        #"{"prompt": "infinite", "cfg_scale": 1e400}"#,
        "",
    ]

    @Test("the quick reader answers what JSONDecoder answers, on the usual bodies and on odd ones")
    func agreesWithFoundation() throws {
        var quickCount = 0
        for body in Self.bodies {
            let foundation = try? JSONDecoder().decode(GenerationRequest.self, from: Data(body.utf8))
            guard let quick = GenerationRequest.quickDecode(ByteBuffer(string: body)) else { continue }
            quickCount += 1
            #expect(foundation == quick, "\(body)")
        }
        // The usual bodies (the first six) take the quick path.
        #expect(quickCount == 6)
        for body in Self.bodies.prefix(6) {
            #expect(GenerationRequest.quickDecode(ByteBuffer(string: body)) != nil, "\(body)")
        }
    }

    @Test("bytes that are not UTF-8 are declined (JSONDecoder rejects them)")
    func invalidUTF8() {
        var bytes = Array(#"{"prompt": "ab"}"#.utf8)
        bytes[12] = 0xFF
        #expect(GenerationRequest.quickDecode(ByteBuffer(bytes: bytes)) == nil)
        #expect((try? JSONDecoder().decode(GenerationRequest.self, from: Data(bytes))) == nil)
    }
}
