import ArgumentParser
import AtelierApp
import Core
import Foundation
import Hub
import NIOConcurrencyHelpers
import Storage

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download models from Civitai, Hugging Face or a URL: parallel, resumable, SHA-256 verified.",
        discussion: """
            REF may be:
              https://civitai.com/models/ID[?modelVersionId=V]   https://civitai.com/api/download/models/V
              urn:air:sdxl:lora:civitai:ID@V                     civitai:V
              https://huggingface.co/OWNER/REPO/resolve/REV/FILE hf:OWNER/REPO[/FILE][@REV]   (a whole repo without FILE)
              any https URL
            An interrupted pull (Ctrl-C, crash, kill) resumes where it stopped when run again.
            Tokens come from CIVITAI_API_TOKEN and HF_TOKEN (environment or .env).

            Exit codes: 0 done, 1 download failed, 2 bad reference or option, 3 a token is needed or was
            refused, 4 not found, 5 the file failed verification.
            """
    )

    @OptionGroup var common: CommonOptions

    @Argument(help: "What to pull (see above).") var references: [String] = []

    @Option(help: "Put the files in this folder instead of the layout's type folders.") var to: String?

    @Option(help: "atelier, a1111, comfyui, or the folder of an A1111/Forge or ComfyUI install (ATELIER_MODELS_LAYOUT).")
    var layout: String?

    @Option(help: "Parallel connections per file, 1 to 64 (ATELIER_PULL_CONNECTIONS; default auto: 8, doubled while that is faster, up to 32).")
    var connections: Int?

    @Option(help: "Cap the bandwidth, e.g. 50M or 500K bytes per second (ATELIER_PULL_MAX_RATE).") var maxRate: String?

    @Option(help: "Treat the files as this kind: checkpoint, lora, vae, embedding, controlnet, upscaler, hypernetwork, motion_module, other.")
    var kind: String?

    @Option(name: .customLong("verify"), help: "Check a file on disk: its SHA-256 against the catalog, or identify it on Civitai.")
    var verifyPath: String?

    func validate() throws {
        if references.isEmpty && verifyPath == nil { throw ValidationError("name at least one reference, or --verify PATH") }
        if let connections, !(1...64).contains(connections) { throw ValidationError("--connections must be 1 to 64") }
        if let kind, ModelKind(rawValue: kind) == nil { throw ValidationError("unknown --kind '\(kind)'") }
    }

    func run() async throws {
        var extra: [String: String] = [:]
        extra["ATELIER_PULL_CONNECTIONS"] = connections.map(String.init)
        extra["ATELIER_MODELS_LAYOUT"] = layout
        extra["ATELIER_PULL_MAX_RATE"] = maxRate
        do {
            let config = try await common.load(extra: extra)
            let runtime = try await AtelierRuntime.open(config, logger: .init(label: "atelier"))
            let outcome = await Result { try await run(runtime) }
            await runtime.close()
            try outcome.get()
        } catch let error as ExitCode {
            throw error
        } catch {
            throw PullExit.report(error)
        }
    }

    func run(_ runtime: AtelierRuntime) async throws {
        if let verifyPath {
            try await verify(verifyPath, runtime: runtime)
            return
        }
        let references = try self.references.map { try HubReference.parse($0) }
        let target: ModelLayout
        if let to {
            // --to: everything into one folder, whatever its type.
            target = .flat(root: URL(fileURLWithPath: to).standardizedFileURL.path)
        } else {
            target = try runtime.hub.layout(nil)
        }
        let display = ProgressDisplay()
        var failures = 0
        for reference in references {
            do {
                let files = try await runtime.hub.pull(
                    reference,
                    layout: target,
                    kind: kind.flatMap(ModelKind.init),
                    onPlanned: { display.planned($0.map { ($0.request.filename, $0.request.expectedSize) }) },
                    onProgress: { display.update($0, $1) }
                )
                for file in files {
                    display.finished(file.path, file.alreadyPresent ? "already present" : "verified sha256 \(file.sha256.prefix(12))…")
                    print(file.path)
                }
            } catch {
                display.failed(reference.description, error)
                failures += 1
                if references.count == 1 { throw error }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    func verify(_ path: String, runtime: AtelierRuntime) async throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let (sha, size) = try FileHashing.sha256(path: absolute)
        print("\(sha)  \(absolute)  (\(Format.bytes(size)))")
        if let entry = try await runtime.hub.catalog.find(path: absolute), let expected = entry.sha256 {
            if expected == sha {
                print("OK: matches the catalog entry \(entry.key)")
                return
            }
            printError("MISMATCH: the catalog expects \(expected); the file is damaged — pull it again")
            throw ExitCode(5)
        }
        do {
            let version = try await runtime.hub.civitai.versionByHash(sha)
            let expected = version.files.compactMap(\.sha256).contains(sha)
            print(
                "OK: Civitai knows it: \(version.model?.name ?? "?") — \(version.name) (version \(version.id))\(expected ? "" : " (hash listed under another file)")"
            )
        } catch let error as AppError where error.status == .notFound {
            printError("unknown: not in the catalog and Civitai does not know this hash")
            throw ExitCode(4)
        }
    }
}

/// Exit codes of `atelier pull`, from the error's HTTP status.
enum PullExit {
    static func report(_ error: any Error) -> ExitCode {
        switch error {
        case let error as AppError:
            printError("atelier: \(error.detail)")
            switch error.status.code {
            case 400, 422: return ExitCode(2)
            case 401, 403: return ExitCode(3)
            case 404: return ExitCode(4)
            default: return ExitCode(error.code == "hash_mismatch" || error.code == "not_a_model_file" || error.code == "size_mismatch" ? 5 : 1)
            }
        case let error as ConfigurationError:
            printError("atelier: \(error.description)")
            return ExitCode(2)
        default:
            printError("atelier: \(error)")
            return ExitCode(1)
        }
    }
}
