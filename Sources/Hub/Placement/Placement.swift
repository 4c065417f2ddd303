import Core
import Foundation

/// Where a model file goes: the folder layout of the tool that will load it, the folder for the
/// model's type, and a sanitised filename confined to that folder.
package enum ModelLayout: Sendable, Equatable, CustomStringConvertible {
    case atelier(root: String)
    case a1111(root: String)
    case comfyui(root: String)
    /// Every file straight into one folder (`atelier pull --to DIR`).
    case flat(root: String)

    package var description: String {
        switch self {
        case .flat(let root): "folder \(root)"
        case .atelier(let root): "atelier layout at \(root)"
        case .a1111(let root): "A1111/Forge layout at \(root)"
        case .comfyui(let root): "ComfyUI layout at \(root)"
        }
    }

    package var root: String {
        switch self {
        case .atelier(let root), .a1111(let root), .comfyui(let root), .flat(let root): root
        }
    }

    /// `atelier`, `a1111`, `comfyui` (under `modelsRoot`) or the path of an existing A1111/Forge
    /// or ComfyUI install, recognised by its folders.
    package static func parse(_ text: String, modelsRoot: String) throws -> ModelLayout {
        switch text.lowercased() {
        case "atelier", "": return .atelier(root: modelsRoot)
        case "a1111", "forge", "webui": return .a1111(root: modelsRoot)
        case "comfyui", "comfy": return .comfyui(root: modelsRoot)
        default:
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: text, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw AppError.validation(field: "layout", "use atelier, a1111, comfyui or the folder of an existing install ('\(text)' is none)")
            }
            if FileManager.default.fileExists(atPath: (text as NSString).appendingPathComponent("models/Stable-diffusion")) {
                return .a1111(root: (text as NSString).appendingPathComponent("models"))
            }
            if FileManager.default.fileExists(atPath: (text as NSString).appendingPathComponent("models/checkpoints")) {
                return .comfyui(root: (text as NSString).appendingPathComponent("models"))
            }
            throw AppError.validation(
                field: "layout",
                "\(text) is neither an A1111/Forge install (models/Stable-diffusion) nor a ComfyUI one (models/checkpoints)"
            )
        }
    }

    /// Folder for a model type (Civitai's type names; anything unknown goes to an `other` folder).
    package func folder(for type: ModelKind) -> String {
        let name: String
        switch self {
        case .flat(let root):
            return (root as NSString).standardizingPath
        case .atelier:
            name =
                switch type {
                case .checkpoint: "checkpoints"
                case .lora: "loras"
                case .vae: "vae"
                case .embedding: "embeddings"
                case .controlnet: "controlnet"
                case .upscaler: "upscalers"
                case .hypernetwork: "hypernetworks"
                case .motionModule: "motion"
                case .other: "other"
                }
        case .a1111:
            name =
                switch type {
                case .checkpoint: "Stable-diffusion"
                case .lora: "Lora"
                case .vae: "VAE"
                case .embedding: "../embeddings"
                case .controlnet: "ControlNet"
                case .upscaler: "ESRGAN"
                case .hypernetwork: "hypernetworks"
                case .motionModule: "AnimateDiff"
                case .other: "Other"
                }
        case .comfyui:
            name =
                switch type {
                case .checkpoint: "checkpoints"
                case .lora: "loras"
                case .vae: "vae"
                case .embedding: "embeddings"
                case .controlnet: "controlnet"
                case .upscaler: "upscale_models"
                case .hypernetwork: "hypernetworks"
                case .motionModule: "animatediff_models"
                case .other: "other"
                }
        }
        return ((root as NSString).appendingPathComponent(name) as NSString).standardizingPath
    }
}

/// Model kinds Atelier places, from Civitai's `type` strings.
package enum ModelKind: String, Sendable, Codable, CaseIterable {
    case checkpoint, lora, vae, embedding, controlnet, upscaler, hypernetwork
    case motionModule = "motion_module"
    case other

    package init(civitaiType: String) {
        switch civitaiType.lowercased() {
        case "checkpoint": self = .checkpoint
        case "lora", "locon", "dora", "lycoris": self = .lora
        case "vae": self = .vae
        case "textualinversion", "embedding": self = .embedding
        case "controlnet": self = .controlnet
        case "upscaler": self = .upscaler
        case "hypernetwork": self = .hypernetwork
        case "motionmodule": self = .motionModule
        default: self = .other
        }
    }
}

package enum Placement {
    /// A filename from the network made safe: no directories, no control or reserved characters,
    /// no leading dots, at most 200 bytes. Never empty.
    package static func sanitize(_ raw: String) -> String {
        let last = raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let forbidden = CharacterSet(charactersIn: "<>:\"|?*\0").union(.controlCharacters)
        var cleaned = String(String.UnicodeScalarView(last.unicodeScalars.map { forbidden.contains($0) ? "_" : $0 }))
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        cleaned = cleaned.trimmingCharacters(in: .whitespaces)
        while cleaned.utf8.count > 200 { cleaned.removeFirst() }
        return cleaned.isEmpty ? "model.bin" : cleaned
    }

    /// `folder/filename`, refusing anything that would end up outside `folder`.
    package static func confined(_ filename: String, in folder: String) throws -> String {
        let path = ((folder as NSString).appendingPathComponent(sanitize(filename)) as NSString).standardizingPath
        let base = (folder as NSString).standardizingPath
        guard path.hasPrefix(base + "/") else {
            throw AppError.badRequest("refusing to write \(filename) outside \(folder)")
        }
        return path
    }
}
