import AtelierApp
import Foundation
import Testing

/// What operators read about settings is what the program reads: the README's table and
/// `.env.example` are generated from `Setting.all`, and every flag the table names works on the
/// commands it names.
@Suite("Settings documentation", .timeLimit(.minutes(5)))
struct ConfigDocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func file(_ name: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(name), encoding: .utf8)
    }

    @Test("README's configuration table and .env.example match the settings list (scripts/update-readme-config)")
    func generatedFilesInStep() throws {
        let readme = try Self.file("README.md")
        let begin = try #require(readme.range(of: "<!-- config:begin"))
        let tableStart = try #require(readme[begin.upperBound...].firstIndex(of: "\n"))
        let end = try #require(readme.range(of: "<!-- config:end -->"))
        let table = readme[readme.index(after: tableStart)..<end.lowerBound].trimmingCharacters(in: .newlines)
        #expect(table == SettingsDocument.markdownTable(), "run scripts/update-readme-config")
        #expect(try Self.file(".env.example") == SettingsDocument.envExample(), "run scripts/update-readme-config")
    }

    @Test("every setting's flag is accepted by each command the table names")
    func flagsWorkWhereDocumented() async throws {
        let dir = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var helps: [String: String] = [:]
        for command in ["serve", "pull", "migrate"] {
            helps[command] = try await AtelierBinary.run([command, "--help"], environment: [:], directory: dir).stdout
        }
        for setting in Setting.all {
            guard let flag = setting.flag else { continue }
            let commands = setting.commands.isEmpty ? Array(helps.keys) : setting.commands
            for command in commands {
                let help = try #require(helps[command], "no help read for \(command)")
                #expect(help.contains(flag + " "), "atelier \(command) does not take \(flag) (\(setting.env))")
            }
        }
    }
}
