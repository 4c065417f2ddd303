import ArgumentParser
import AtelierApp
import Foundation

@main
struct Atelier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier",
        abstract: "Run your own AI image and assistant business on your own GPUs and accounts.",
        discussion: """
            Settings come from the command line, then the environment, then a .env file, then defaults.
            Run `atelier config` to see every setting.
            """,
        version: AtelierVersion.current,
        subcommands: [
            Serve.self, PullCommand.self, ModelsCommand.self, Migrate.self, UserCommand.self, KeyCommand.self, OpenAPI.self, ConfigCommand.self,
            BenchCommand.self,
        ],
        defaultSubcommand: Serve.self
    )
}
