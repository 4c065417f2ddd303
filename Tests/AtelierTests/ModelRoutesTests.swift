import Core
import Foundation
import HTTPTypes
import Hub
import HummingbirdTesting
import Testing

@Suite("Model catalog API", .timeLimit(.minutes(5)))
struct ModelRoutesTests {
    static let seed003 = """
        {"AVAILABLE_MODELS": {"my-custom-model": {"name": "My Custom Model", "path": "username/my-private-sdxl-model",
            "vae_path": "madebyollin/sdxl-vae-fp16-fix", "default_negative": "low quality", "description": "Mon modèle"}},
         "AVAILABLE_LORAS": {"civitai-lora": {"name": "Civitai LoRA Auto", "path": "./models/civitai_695220",
            "default_weight": 0.7, "trigger_words": ["custom style"], "civitai_model_id": 695220}}}
        """

    @Test("an admin imports seed 003's lists; users read the catalog; entries are missing until pulled")
    func importAndRead() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            let (_, user) = try await app.makeUser("reader")
            #expect(try await app.request(.post, "/api/v1/models/import", token: user, json: Self.seed003).status == .forbidden)
            let imported = try await app.request(.post, "/api/v1/models/import", token: admin, json: Self.seed003)
            #expect(imported.status == .ok)
            #expect(imported.json["created"] as? [String] == ["my-custom-model", "civitai-lora"])
            let again = try await app.request(.post, "/api/v1/models/import", token: admin, json: Self.seed003)
            #expect((again.json["updated"] as? [String])?.count == 2)

            let list = try await app.request(.get, "/api/v1/models", token: user)
            #expect((list.json["items"] as? [[String: Any]])?.count == 2)
            let loras = try await app.request(.get, "/api/v1/models?kind=lora", token: user)
            let lora = try #require((loras.json["items"] as? [[String: Any]])?.first)
            #expect(lora["trigger_words"] as? [String] == ["custom style"])
            #expect(lora["default_weight"] as? Double == 0.7)
            #expect(lora["civitai_model_id"] as? Int == 695220)
            #expect(lora["status"] as? String == "missing")
            let model = try await app.request(.get, "/api/v1/models/my-custom-model", token: user)
            #expect(model.json["hf_repo"] as? String == "username/my-private-sdxl-model")
            #expect(model.json["vae_path"] as? String == "madebyollin/sdxl-vae-fp16-fix")
            #expect(try await app.request(.get, "/api/v1/models/nope", token: user).status == .notFound)
            #expect(try await app.request(.get, "/api/v1/models?kind=bogus", token: user).status == .unprocessableContent)
            #expect(try await app.request(.get, "/api/v1/models").status == .unauthorized)
        }
    }

    @Test("admins change defaults and remove entries; users cannot")
    func editAndRemove() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            let (_, user) = try await app.makeUser("editor")
            _ = try await app.request(.post, "/api/v1/models/import", token: admin, json: Self.seed003)
            #expect(try await app.request(.put, "/api/v1/models/civitai-lora", token: user, json: #"{"default_weight": 1}"#).status == .forbidden)
            let updated = try await app.request(
                .put,
                "/api/v1/models/civitai-lora",
                token: admin,
                json: #"{"default_weight": 0.9, "trigger_words": ["a", "b"]}"#
            )
            #expect(updated.json["default_weight"] as? Double == 0.9)
            #expect(updated.json["trigger_words"] as? [String] == ["a", "b"])
            let bad = try await app.request(.put, "/api/v1/models/civitai-lora", token: admin, json: #"{"default_weight": 50}"#)
            #expect(bad.status == .unprocessableContent)
            #expect(try await app.request(.delete, "/api/v1/models/civitai-lora", token: user).status == .forbidden)
            #expect(try await app.request(.delete, "/api/v1/models/civitai-lora", token: admin).status == .noContent)
            #expect(try await app.request(.get, "/api/v1/models/civitai-lora", token: admin).status == .notFound)
        }
    }

    @Test("atelier models import/list/remove on the command line")
    func cli() async throws {
        let (env, dir) = try ProcessTests.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = (dir as NSString).appendingPathComponent("models.json")
        try Self.seed003.write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try await AtelierBinary.run(["models", "import", file], environment: env, directory: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported 2 new"))
        let list = try await AtelierBinary.run(["models", "list", "--kind", "lora"], environment: env, directory: dir)
        #expect(list.stdout.contains("civitai-lora") && !list.stdout.contains("my-custom-model"))
        #expect(try await AtelierBinary.run(["models", "remove", "civitai-lora"], environment: env, directory: dir).status == 0)
        let missing = try await AtelierBinary.run(["models", "remove", "civitai-lora"], environment: env, directory: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("not in the catalog"))
        try "{not json".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await AtelierBinary.run(["models", "import", file], environment: env, directory: dir).status == 2)
        await TestDatabase.cleanUp(env)
    }
}

@Suite("Seed 003's models_config.py", .timeLimit(.minutes(5)))
struct PythonModelsConfigTests {
    static let source = #"""
        from dataclasses import dataclass
        # Configuration des modèles
        AVAILABLE_MODELS = {
            "my-custom-model": ModelConfig(
                name="My Custom Model",
                path="username/my-private-sdxl-model",  # Repo privé
                vae_path="madebyollin/sdxl-vae-fp16-fix",
                default_negative="low quality, " 'blurry',
                description="Mon modèle custom privé"
            ),
        }

        AVAILABLE_LORAS = {
            "my-private-lora": LoRAConfig(
                name="My Private LoRA",
                path="username/my-private-lora",
                default_weight=0.8,
                trigger_words=["custom style", 'other'],
                description="Mon LoRA custom",
            ),
            "civitai-lora": LoRAConfig(name="Civitai LoRA Auto", path="./models/civitai_695220",
                                       default_weight=0.8, civitai_model_id=695220),
        }
        """#

    @Test("the seed's file is read as it is")
    func parses() throws {
        let list = try PythonModelsConfig.parse(Self.source)
        let model = try #require(list.models["my-custom-model"])
        #expect(model.name == "My Custom Model")
        #expect(model.default_negative == "low quality, blurry")
        #expect(model.vae_path == "madebyollin/sdxl-vae-fp16-fix")
        let lora = try #require(list.loras["my-private-lora"])
        #expect(lora.trigger_words == ["custom style", "other"])
        #expect(lora.default_weight == 0.8)
        #expect(list.loras["civitai-lora"]?.civitai_model_id == 695220)
    }

    @Test("code that is not a literal is refused with its line")
    func refusesCode() {
        do {
            _ = try PythonModelsConfig.parse("AVAILABLE_LORAS = {\n  \"x\": LoRAConfig(name=os.environ['X'])\n}")
            Issue.record("accepted code")
        } catch let error as AppError {
            #expect(error.detail.contains("line 2"))
        } catch {
            Issue.record("\(error)")
        }
    }
}
