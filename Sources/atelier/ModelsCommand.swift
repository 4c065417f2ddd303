import ArgumentParser
import AtelierApp
import Core
import Foundation
import Hub

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "The catalog of models and LoRAs (filled by every pull).",
        subcommands: [List.self, Import.self, Remove.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List catalog entries.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Only this kind (checkpoint, lora, vae, embedding, …).") var kind: String?

        func run() async throws {
            try await CLIErrors.report {
                let kind = try self.kind.map { text -> ModelKind in
                    guard let parsed = ModelKind(rawValue: text) else { throw ValidationError("unknown --kind '\(text)'") }
                    return parsed
                }
                let runtime = try await common.open()
                let result = await Result { () -> [CatalogEntry] in
                    var entries: [CatalogEntry] = []
                    var page = PageRequest(limit: PageRequest.maxLimit)
                    while true {
                        let batch = try await runtime.hub.catalog.list(kind: kind, page: page)
                        entries += batch.prefix(page.limit)
                        guard batch.count > page.limit, let last = entries.last else { return entries }
                        page.after = last.id
                    }
                }
                await runtime.close()
                let rows = try result.get().map { entry in
                    [
                        entry.key, entry.kind.rawValue, entry.status.rawValue, entry.baseModel ?? "", entry.sizeBytes.map(Format.bytes) ?? "",
                        entry.path,
                    ]
                }
                Table.print(header: ["KEY", "KIND", "STATUS", "BASE", "SIZE", "PATH"], rows: rows)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import seed 003's AVAILABLE_MODELS / AVAILABLE_LORAS from its models_config.py, or from JSON.",
            discussion:
                #"The file: {"AVAILABLE_MODELS": {"key": {"name": …, "path": …, "vae_path": …, "default_negative": …}}, "AVAILABLE_LORAS": {"key": {"name": …, "path": …, "default_weight": 0.8, "trigger_words": […], "civitai_model_id": …}}}"#
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "models_config.py, or a JSON file with the same two dicts.") var file: String

        func run() async throws {
            try await CLIErrors.report {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw AppError.badRequest("cannot read \(file)")
                }
                let list: CatalogImport
                if file.hasSuffix(".py") {
                    list = try PythonModelsConfig.parse(String(decoding: data, as: UTF8.self))
                } else {
                    do {
                        list = try JSONDecoder().decode(CatalogImport.self, from: data)
                    } catch let error as DecodingError {
                        throw ErrorMapping.fromDecodingError(error)
                    }
                }
                let runtime = try await common.open()
                let result = await Result { try await list.apply(to: runtime.hub.catalog) }
                await runtime.close()
                let outcome = try result.get()
                print("imported \(outcome.created.count) new and \(outcome.updated.count) updated entries")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a catalog entry (and with --delete-file, its files).")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The entry's key.") var key: String
        @Flag(help: "Also delete the model file, its metadata JSON and preview.") var deleteFile = false

        func run() async throws {
            try await CLIErrors.report {
                let runtime = try await common.open()
                let result = await Result { () -> CatalogEntry in
                    guard let entry = try await runtime.hub.catalog.find(key: key) else {
                        throw AppError.notFound("model '\(key)' is not in the catalog; see `atelier models list`")
                    }
                    // Only inside the models folders; outside, nothing is removed (as the API does).
                    if deleteFile { try runtime.hub.folders.deleteModel(at: entry.path) }
                    try await runtime.hub.catalog.delete(id: entry.id)
                    return entry
                }
                await runtime.close()
                let entry = try result.get()
                print("removed \(entry.key)" + (deleteFile ? " and its files" : ""))
            }
        }
    }
}
