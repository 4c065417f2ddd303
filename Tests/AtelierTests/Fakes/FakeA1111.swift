import AsyncHTTPClient
import Core
import Foundation
import Generation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// AUTOMATIC1111's `/sdapi/v1/*` as its FastAPI app answers: options with `sd_model_checkpoint`
/// ("file [hash]"), sd-models, txt2img/img2img (`images` base64, `parameters`, `info` as a JSON
/// string), progress and interrupt.
final class FakeA1111: Sendable {
    struct State: Sendable {
        var loaded = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
        /// Paths under A1111's checkpoint folder (a subfolder is part of the name, as there).
        var installed = ["v1-5-pruned-emaonly.safetensors", "SDXL/sdxl_base.safetensors"]
        var switches: [String] = []
        var renderTime: Duration = .zero
        var interrupts = 0
        var rendering = false
        /// Renders under way now, and the most seen at once (A1111 runs one at a time).
        var renderingNow = 0
        var mostAtOnce = 0
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer

    private init(server: RunningServer) { self.server = server }

    static func start() async throws -> FakeA1111 {
        let holder = NIOLockedValueBox<FakeA1111?>(nil)
        @Sendable func fake() -> FakeA1111 { holder.withLockedValue { $0! } }
        let router = Router()
        router.get("/sdapi/v1/options") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            return FakeGPU.json(.ok, ["sd_model_checkpoint": fake().state.withLockedValue { $0.loaded }, "samples_format": "png"])
        }
        router.post("/sdapi/v1/options") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            guard let name = body["sd_model_checkpoint"] as? String else { return FakeGPU.json(.ok, NSNull()) }
            // A1111 1.6+ (`set_config`) takes only a checkpoint's own aliases: its title, its
            // path under the folder, or that path without the extension; anything else raises.
            let aliases = fake().state.withLockedValue { $0.installed }.flatMap { file in
                ["\(file) [0123456789]", file, file.replacingOccurrences(of: ".safetensors", with: "")]
            }
            guard aliases.contains(name) else {
                return FakeGPU.json(
                    .internalServerError,
                    [
                        "error": "RuntimeError", "detail": "", "body": "",
                        "errors": "model '\(name)' not found",
                    ]
                )
            }
            fake().state.withLockedValue {
                $0.switches.append(name)
                $0.loaded = name.hasSuffix("]") ? name : "\(name) [0123456789]"
            }
            return FakeGPU.json(.ok, NSNull())
        }
        router.get("/sdapi/v1/sd-models") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            return FakeGPU.json(
                .ok,
                fake().state.withLockedValue { $0.installed }.map { file -> [String: Any] in
                    // A1111's model_name is the path with its folders joined by "_", without extension.
                    let stem = file.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".safetensors", with: "")
                    return [
                        "title": "\(file) [0123456789]", "model_name": stem, "hash": "0123456789", "sha256": NSNull(),
                        "filename": "/stable-diffusion-webui/models/Stable-diffusion/\(file)", "config": NSNull(),
                    ]
                }
            )
        }
        let render: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            let wait = fake().state.withLockedValue { state -> Duration in
                state.rendering = true
                state.renderingNow += 1
                state.mostAtOnce = max(state.mostAtOnce, state.renderingNow)
                return state.renderTime
            }
            defer { fake().state.withLockedValue { $0.renderingNow -= 1 } }
            let deadline = ContinuousClock.now + wait
            while ContinuousClock.now < deadline, fake().state.withLockedValue({ $0.interrupts }) == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            fake().state.withLockedValue { $0.rendering = false }
            let info: [String: Any] = [
                "prompt": body["prompt"] ?? "", "seed": body["seed"] ?? -1, "width": body["width"] ?? 512,
                "height": body["height"] ?? 512, "sd_model_name": fake().state.withLockedValue { $0.loaded },
            ]
            let infoText = String(decoding: try JSONSerialization.data(withJSONObject: info), as: UTF8.self)
            return FakeGPU.json(.ok, ["images": [FakeGPU.png.base64EncodedString()], "parameters": body, "info": infoText])
        }
        router.post("/sdapi/v1/txt2img", use: render)
        router.post("/sdapi/v1/img2img", use: render)
        router.get("/sdapi/v1/progress") { _, _ in
            let rendering = fake().state.withLockedValue { $0.rendering }
            return FakeGPU.json(
                .ok,
                [
                    "progress": rendering ? 0.4 : 0.0, "eta_relative": 1.5,
                    "state": [
                        "skipped": false, "interrupted": false, "job": "", "job_count": rendering ? 1 : 0,
                        "sampling_step": rendering ? 8 : 0, "sampling_steps": 20,
                    ] as [String: Any],
                    "current_image": NSNull(), "textinfo": NSNull(),
                ]
            )
        }
        router.post("/sdapi/v1/interrupt") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            fake().state.withLockedValue { $0.interrupts += 1 }
            return FakeGPU.json(.ok, [:])
        }
        let server = try await RunningServer.start(router)
        let made = FakeA1111(server: server)
        holder.withLockedValue { $0 = made }
        return made
    }

    var url: String { server.baseURL() }
    func stop() async { await server.stop() }
    func bodies(_ path: String) -> [[String: Any]] {
        script.withLockedValue { $0.requests.filter { $0.path == path && $0.method == "POST" }.map(\.body) }.map(FakeGPU.object)
    }
}
