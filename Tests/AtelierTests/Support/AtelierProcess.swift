import Foundation
import NIOConcurrencyHelpers
import Testing

/// Runs the built `atelier` executable as a separate process, the way an operator does.
/// `swift build --build-tests` (scripts/test) builds it next to the test bundle.
enum AtelierBinary {
    static func url() throws -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundle.appendingPathComponent("atelier"),
                          bundle.deletingLastPathComponent().appendingPathComponent("atelier")]
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
    static func run(_ arguments: [String], environment: [String: String], stdin: String = "",
                    directory: String) async throws -> Output {
        let process = Process()
        process.executableURL = try url()
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        let out = NIOLockedValueBox(Data()), err = NIOLockedValueBox(Data())
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            out.withLockedValue { $0.append(data) }
        }
        error.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            err.withLockedValue { $0.append(data) }
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        output.fileHandleForReading.readabilityHandler = nil
        error.fileHandleForReading.readabilityHandler = nil
        // Whatever the handlers had not picked up yet (the writers are closed: this does not wait).
        let restOut = (try? output.fileHandleForReading.readToEnd()) ?? nil
        let restErr = (try? error.fileHandleForReading.readToEnd()) ?? nil
        if let restOut { out.withLockedValue { $0.append(restOut) } }
        if let restErr { err.withLockedValue { $0.append(restErr) } }
        return Output(status: status, stdout: String(decoding: out.withLockedValue { $0 }, as: UTF8.self),
                      stderr: String(decoding: err.withLockedValue { $0 }, as: UTF8.self))
    }
}

/// A running `atelier serve` process. Its standard error is collected as it arrives; `port` is
/// read from its "listening on" line.
final class ServerProcess: Sendable {
    let process: Process
    private let collected = NIOLockedValueBox("")

    init(environment: [String: String], directory: String) throws {
        let process = Process()
        process.executableURL = try AtelierBinary.url()
        process.arguments = ["serve", "--port", "0"]
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        let collected = self.collected
        error.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            collected.withLockedValue { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        self.process = process
    }

    var stderr: String { collected.withLockedValue { $0 } }

    /// Waits for the "listening on http://host:PORT" line.
    func port(timeout: Duration = .seconds(60)) async throws -> Int {
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
        return process.terminationStatus
    }

    struct ServerDidNotStart: Error, CustomStringConvertible {
        var log: String
        var description: String { "atelier serve did not start; its log:\n\(log)" }
    }

    struct ServerDidNotStop: Error {}
}
