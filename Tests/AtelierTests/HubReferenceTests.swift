import Core
import Hub
import Testing

@Suite("Hub references", .timeLimit(.minutes(5)))
struct HubReferenceTests {
    @Test(
        "every accepted spelling parses to what it names",
        arguments: [
            ("https://civitai.com/models/4201", HubReference.civitaiModel(modelID: 4201, versionID: nil)),
            ("https://civitai.com/models/4201/realistic-vision?modelVersionId=130072", .civitaiModel(modelID: 4201, versionID: 130072)),
            ("https://civitai.com/api/download/models/130072", .civitaiVersion(versionID: 130072, query: [:])),
            (
                "https://civitai.com/api/download/models/130072?type=Model&format=SafeTensor&size=pruned&fp=fp16&token=x",
                .civitaiVersion(versionID: 130072, query: ["type": "Model", "format": "SafeTensor", "size": "pruned", "fp": "fp16"])
            ),
            ("urn:air:sdxl:lora:civitai:328553@368189", .civitaiModel(modelID: 328553, versionID: 368189)),
            ("urn:air:sdxl:checkpoint:civitai:827184@2514310.safetensors", .civitaiModel(modelID: 827184, versionID: 2_514_310)),
            ("urn:air:sd1:checkpoint:civitai:4201", .civitaiModel(modelID: 4201, versionID: nil)),
            ("civitai:130072", .civitaiVersion(versionID: 130072, query: [:])),
            (
                "https://huggingface.co/stabilityai/sdxl-vae/blob/main/sdxl_vae.safetensors",
                .huggingFace(repo: "stabilityai/sdxl-vae", path: "sdxl_vae.safetensors", revision: "main")
            ),
            (
                "https://huggingface.co/owner/repo/resolve/v1.0/unet/model.safetensors?download=true",
                .huggingFace(repo: "owner/repo", path: "unet/model.safetensors", revision: "v1.0")
            ),
            ("https://huggingface.co/owner/repo", .huggingFace(repo: "owner/repo", path: nil, revision: "main")),
            ("hf:owner/repo", .huggingFace(repo: "owner/repo", path: nil, revision: "main")),
            ("hf:owner/repo/sub/file.safetensors@dev", .huggingFace(repo: "owner/repo", path: "sub/file.safetensors", revision: "dev")),
            ("  hf:owner/repo/file.bin  ", .huggingFace(repo: "owner/repo", path: "file.bin", revision: "main")),
        ]
    )
    func parses(text: String, expected: HubReference) throws {
        #expect(try HubReference.parse(text) == expected)
    }

    @Test("a plain https URL is kept as a URL")
    func plainURL() throws {
        guard case .url(let url) = try HubReference.parse("https://example.com/models/x.safetensors") else {
            Issue.record("not a URL reference")
            return
        }
        #expect(url.host == "example.com")
    }

    @Test(
        "bad references are 422 naming ref and saying what is expected",
        arguments: [
            "", "civitai:abc", "civitai:-5", "urn:air:sdxl:lora:huggingface:1@2", "urn:air:x", "https://civitai.com/images/5",
            "hf:onlyowner", "hf:owner/repo/../../etc/passwd", "ftp://example.com/x", "not a reference", "hf:owner/repo@",
            "https://huggingface.co/owner",
        ]
    )
    func rejects(text: String) {
        do {
            _ = try HubReference.parse(text)
            Issue.record("'\(text)' was accepted")
        } catch let error as AppError {
            #expect(error.status == .unprocessableContent)
            #expect(error.detail.hasPrefix("ref:"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
