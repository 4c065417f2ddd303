import Core
import Foundation
import Hub
import Testing

@Suite("Placement of model files", .timeLimit(.minutes(5)))
struct PlacementTests {
    @Test(
        "filenames from the network are sanitised and confined to their folder",
        arguments: [
            ("../../etc/passwd", "passwd"), ("..\\..\\windows\\evil.dll", "evil.dll"), (".hidden.safetensors", "hidden.safetensors"),
            ("a:b*c?.safetensors", "a_b_c_.safetensors"), ("", "model.bin"), ("..", "model.bin"), ("ok name.safetensors", "ok name.safetensors"),
        ]
    )
    func sanitise(raw: String, expected: String) throws {
        #expect(Placement.sanitize(raw) == expected)
        let path = try Placement.confined(raw, in: "/models/loras")
        #expect(path.hasPrefix("/models/loras/"))
        #expect(!path.dropFirst("/models/loras/".count).contains("/"))
    }

    @Test("each layout puts each kind in the folder its tool reads")
    func layouts() {
        #expect(ModelLayout.a1111(root: "/sd/models").folder(for: .lora) == "/sd/models/Lora")
        #expect(ModelLayout.a1111(root: "/sd/models").folder(for: .checkpoint) == "/sd/models/Stable-diffusion")
        #expect(ModelLayout.a1111(root: "/sd/models").folder(for: .embedding) == "/sd/embeddings")
        #expect(ModelLayout.a1111(root: "/sd/models").folder(for: .upscaler) == "/sd/models/ESRGAN")
        #expect(ModelLayout.comfyui(root: "/c/models").folder(for: .lora) == "/c/models/loras")
        #expect(ModelLayout.comfyui(root: "/c/models").folder(for: .upscaler) == "/c/models/upscale_models")
        #expect(ModelLayout.atelier(root: "/d/models").folder(for: .vae) == "/d/models/vae")
        #expect(ModelKind(civitaiType: "LoCon") == .lora)
        #expect(ModelKind(civitaiType: "TextualInversion") == .embedding)
        #expect(ModelKind(civitaiType: "Poses") == .other)
    }

    @Test("an existing A1111 or ComfyUI install is recognised by its folders")
    func detectInstall() throws {
        let dir = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a1111 = (dir as NSString).appendingPathComponent("webui")
        let comfy = (dir as NSString).appendingPathComponent("ComfyUI")
        try FileManager.default.createDirectory(atPath: a1111 + "/models/Stable-diffusion", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: comfy + "/models/checkpoints", withIntermediateDirectories: true)
        #expect(try ModelLayout.parse(a1111, modelsRoot: "/x") == .a1111(root: a1111 + "/models"))
        #expect(try ModelLayout.parse(comfy, modelsRoot: "/x") == .comfyui(root: comfy + "/models"))
        #expect(throws: AppError.self) { try ModelLayout.parse(dir, modelsRoot: "/x") }
        #expect(try ModelLayout.parse("comfyui", modelsRoot: "/x") == .comfyui(root: "/x"))
    }
}
