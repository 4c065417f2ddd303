/// The settings as people read them: the README's configuration table and `.env.example`, both
/// made from `Setting.all` so neither can drift from what the program reads
/// (`scripts/update-readme-config` rewrites both; a test compares them with this).
package enum SettingsDocument {
    package static func markdownTable() -> String {
        var lines = ["| environment (and `.env`) | flag | default | meaning |", "|---|---|---|---|"]
        for setting in Setting.all {
            let names = ([setting.env] + setting.aliases).map { "`\($0)`" }.joined(separator: ", ")
            let flag = setting.flag.map { "`\($0)`" + commands(setting) } ?? ""
            let value = setting.defaultValue.isEmpty ? "—" : "`\(setting.defaultValue)`"
            lines.append("| \(names) | \(flag) | \(value) | \(setting.meaning) |")
        }
        return lines.joined(separator: "\n")
    }

    /// Every setting as a commented-out `.env` line with its default: copy to `.env` and uncomment
    /// what you change.
    package static func envExample() -> String {
        var lines = [
            "# Atelier settings. Copy this file to .env (next to where you run atelier) and uncomment",
            "# what you change. The environment and command-line flags override this file.",
            "# Generated from the program's settings list by scripts/update-readme-config.",
        ]
        for setting in Setting.all {
            lines.append("")
            var about = setting.meaning
            if !setting.aliases.isEmpty { about += " (also read as \(setting.aliases.joined(separator: ", ")))" }
            if let flag = setting.flag { about += "; flag \(flag)" + commands(setting) }
            lines.append("# \(about)")
            lines.append("#\(setting.env)=\(setting.defaultValue)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func commands(_ setting: Setting) -> String {
        setting.commands.isEmpty ? "" : " (\(setting.commands.joined(separator: ", ")))"
    }
}
