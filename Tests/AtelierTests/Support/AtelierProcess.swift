import Foundation
import NIOConcurrencyHelpers
import Testing

/// Runs the built `atelier` executable as a separate process, the way an operator does.
/// `swift build --build-tests` (scripts/test) builds it next to the test bundle.
enum AtelierBinary {
    static func url() throws -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            bundle.appendingPathComponent("atelier"),
            bundle.deletingLastPathComponent().appendingPathComponent("atelier"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw BinaryMissing(searched: candidates.map(\.path))
        }
        return found
    }

    struct BinaryMissing: Error, CustomStringConvertible {
        var searched: [String]
        var description: String { "atelier executable not built (looked in \(searched)); run `swift build --build-tests`" }
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a command to completion with `stdin` as its input. It waits without blocking a thread:
    /// the test process's fake servers and database work run on the same few threads, and a child
    /// that needs them must not be waited on by blocking one of them.
    static func run(
        _ arguments: [String],
        environment: [String: String],
        stdin: String = "",
        directory: String
    ) async throws -> Output {
        let process = Process()
        process.executableURL = try url()
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let out = NIOLockedValueBox(Data())
        let err = NIOLockedValueBox(Data())
        let outReader = PipeReader(output.fileHandleForReading) { data in out.withLockedValue { $0.append(data) } }
        let errReader = PipeReader(errors.fileHandleForReading) { data in err.withLockedValue { $0.append(data) } }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                // No child: closing the write ends ends the readers.
                try? output.fileHandleForWriting.close()
                try? errors.fileHandleForWriting.close()
                continuation.resume(throwing: error)
                return
            }
            // `run` closed our copies of the write ends (the child has its own), so the child's
            // exit ends the readers.
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        await outReader.end()
        await errReader.end()
        return Output(
            status: status,
            stdout: String(decoding: out.withLockedValue { $0 }, as: UTF8.self),
            stderr: String(decoding: err.withLockedValue { $0 }, as: UTF8.self)
        )
    }
}

/// A running `atelier serve` process. Its standard error is collected as it arrives; `port` is
/// read from its "listening on" line.
final class ServerProcess: Sendable {
    let process: Process
    private let collected = NIOLockedValueBox("")
    private let reader: PipeReader

    /// `launcher`: a command that execs the server (`prlimit --nofile=…`), so the pid stays its.
    init(environment: [String: String], directory: String, launcher: [String] = []) throws {
        let process = Process()
        let binary = try AtelierBinary.url()
        if let first = launcher.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(launcher.dropFirst()) + [binary.path, "serve", "--port", "0"]
        } else {
            process.executableURL = binary
            process.arguments = ["serve", "--port", "0"]
        }
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        let collected = self.collected
        try process.run()
        reader = PipeReader(error.fileHandleForReading) { data in collected.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } }
        self.process = process
    }

    var stderr: String { collected.withLockedValue { $0 } }

    /// Waits for the "listening on http://host:PORT" line. The bound is generous: on PostgreSQL a
    /// start waits for the migration lock, which every test's installation takes in turn, and a
    /// loaded 2-core CI machine took over a minute to get it.
    func port(timeout: Duration = .seconds(180)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let range = stderr.range(of: #"listening on http://[0-9.]+:([0-9]+)"#, options: .regularExpression) {
                let match = String(stderr[range])
                if let port = Int(match.split(separator: ":").last ?? "") { return port }
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ServerDidNotStart(log: stderr)
    }

    /// Sends SIGTERM and waits for the exit status.
    func terminate(timeout: Duration = .seconds(30)) async throws -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            throw ServerDidNotStop()
        }
        await reader.end()
        return process.terminationStatus
    }

    struct ServerDidNotStart: Error, CustomStringConvertible {
        var log: String
        var description: String { "atelier serve did not start; its log:\n\(log)" }
    }

    struct ServerDidNotStop: Error {}
}

/// Reads a pipe to its end on a thread of its own (blocking reads, off the async executor's few
/// threads), handing each chunk to `append`. Foundation's `readabilityHandler` did this before:
/// its dispatch read source outlived the descriptor it watched (the handler was never removed,
/// and it fires without end at end of file), and once crashed the whole test process inside
/// libdispatch's event loop (`_dispatch_event_loop_drain`).
final class PipeReader: Sendable {
    private struct State {
        var ended = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    init(_ handle: FileHandle, append: @escaping @Sendable (Data) -> Void) {
        let state = self.state
        Thread {
            while true {
                // Blocks until some bytes arrive; empty at the end (every write end closed).
                let data = handle.availableData
                if data.isEmpty { break }
                append(data)
            }
            let waiting = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.ended = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }.start()
    }

    /// Returns once the pipe has been read to its end.
    func end() async {
        await withCheckedContinuation { continuation in
            let ended = state.withLockedValue { state -> Bool in
                if !state.ended { state.waiting.append(continuation) }
                return state.ended
            }
            if ended { continuation.resume() }
        }
    }
}
