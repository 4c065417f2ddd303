import Foundation
import Hub
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Progress of `atelier pull` on standard error: a live bar per file and a total line on a
/// terminal; plain lines every few seconds otherwise (logs, CI).
final class ProgressDisplay: Sendable {
    struct State {
        var files: [(name: String, size: Int64?)] = []
        var current: [String: DownloadProgress] = [:]
        var lastPlain = Date.distantPast
        var drawnLines = 0
    }

    let isTerminal = isatty(STDERR_FILENO) == 1
    private let state = NIOLockedValueBox(State())

    func planned(_ files: [(String, Int64?)]) {
        state.withLockedValue { $0.files += files.map { (name: $0.0, size: $0.1) } }
    }

    func update(_ name: String, _ progress: DownloadProgress) {
        state.withLockedValue { state in
            state.current[name] = progress
            if isTerminal {
                redraw(&state)
            } else if Date().timeIntervalSince(state.lastPlain) >= 5 {
                state.lastPlain = Date()
                write(line(name, progress) + "\n")
            }
        }
    }

    func finished(_ path: String, _ note: String) {
        state.withLockedValue { state in
            clear(&state)
            write("✓ \(path)  \(note)\n")
        }
    }

    func failed(_ reference: String, _ error: any Error) {
        state.withLockedValue { state in clear(&state) }
    }

    private func redraw(_ state: inout State) {
        clear(&state)
        var lines = state.current.sorted { $0.key < $1.key }.map { line($0.key, $0.value) }
        if state.current.count > 1 {
            let received = state.current.values.reduce(Int64(0)) { $0 + $1.receivedBytes }
            let total = state.current.values.reduce(Int64(0)) { $0 + ($1.totalBytes ?? 0) }
            let speed = state.current.values.reduce(0) { $0 + $1.bytesPerSecond }
            lines.append("total  \(Format.bytes(received)) / \(Format.bytes(total))  \(Format.bytes(Int64(speed)))/s")
        }
        write(lines.joined(separator: "\n") + "\n")
        state.drawnLines = lines.count
    }

    private func clear(_ state: inout State) {
        guard isTerminal, state.drawnLines > 0 else { return }
        write(String(repeating: "\u{1B}[1A\u{1B}[2K", count: state.drawnLines))
        state.drawnLines = 0
    }

    private func line(_ name: String, _ progress: DownloadProgress) -> String {
        let shortName = name.count > 32 ? String(name.prefix(29)) + "…" : name
        let percent = progress.fraction.map { String(format: "%5.1f%%", $0 * 100) } ?? "  ?  "
        let width = 24
        let filled = Int((progress.fraction ?? 0) * Double(width))
        let bar = isTerminal ? "[" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "] " : ""
        let total = progress.totalBytes.map { " / \(Format.bytes($0))" } ?? ""
        let eta = progress.etaSeconds.map { "  ETA \(Self.duration($0))" } ?? ""
        let resumed = progress.resumedBytes > 0 ? "  (resumed \(Format.bytes(progress.resumedBytes)))" : ""
        return
            "\(shortName.padding(toLength: 32, withPad: " ", startingAt: 0)) \(bar)\(percent)  \(Format.bytes(progress.receivedBytes))\(total)  \(Format.bytes(Int64(progress.bytesPerSecond)))/s\(eta)\(resumed)"
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
