import Foundation

/// Turns text into speech. The embedded implementation is `EspeakSynthesizer`; an OpenAI-compatible server can stand in.
package protocol SpeechSynthesizer: Sendable {
    /// `speed` follows OpenAI's meaning: 1 is normal, 0.25...4 the accepted range; nil is the voice's own pace.
    func synthesize(_ text: String, voice: VoiceProfile, speed: Double?) async throws -> WAVAudio
}

/// Turns speech into text. The embedded implementation is `PocketsphinxRecognizer` (English only).
package protocol SpeechRecognizer: Sendable {
    /// `language` is an ISO 639-1 code or nil for the engine's default. `phrases` are what the caller expects to hear
    /// (menu items, names); an engine may use them to constrain or bias recognition, or ignore them.
    func transcribe(_ audio: WAVAudio, language: String?, phrases: [String]) async throws -> Transcript
}

/// What was heard, shaped after OpenAI's `verbose_json` transcription so the HTTP layer can pass it through.
package struct Transcript: Sendable, Equatable {
    package struct Segment: Sendable, Equatable {
        /// Seconds from the start of the audio.
        package var start: Double
        package var end: Double
        package var text: String

        package init(start: Double, end: Double, text: String) {
            self.start = start
            self.end = end
            self.text = text
        }
    }

    package var text: String
    package var language: String
    /// Seconds of audio heard.
    package var duration: Double
    /// Nil when the engine does not report timings.
    package var segments: [Segment]?

    package init(text: String, language: String, duration: Double, segments: [Segment]? = nil) {
        self.text = text
        self.language = language
        self.duration = duration
        self.segments = segments
    }
}

/// A speech engine failed or cannot serve the request. The message says what to fix; it never carries keys,
/// tokens or the user's text, so it may be logged and shown to the caller.
package struct SpeechEngineError: Error, Equatable, CustomStringConvertible {
    package var message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}

/// What a finished helper process left behind.
struct SpeechProcessResult: Sendable {
    var status: Int32
    var standardOutput: Data
    var standardError: Data
    var timedOut: Bool

    /// The last line of stderr, which is where espeak-ng and pocketsphinx say what went wrong.
    var errorSummary: String {
        let text = String(decoding: standardError, as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        return String((lines.last { !$0.isEmpty } ?? "no message on stderr").prefix(300))
    }
}

/// Runs one engine binary. Both pipes are drained on their own threads while the process runs, because a child
/// that fills the 64 KiB pipe buffer blocks until someone reads, and a synthesizer writes megabytes.
enum SpeechProcess {
    static func run(
        executable: String,
        arguments: [String],
        input: Data? = nil,
        timeout: Duration
    ) async throws -> SpeechProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let inputPipe = Pipe()
        let outputPipe = Pipe()
        let errorPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        let exited = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in
            exited.continuation.yield()
            exited.continuation.finish()
        }
        do {
            try process.run()
        } catch {
            let name = URL(fileURLWithPath: executable).lastPathComponent
            throw SpeechEngineError("could not start \(executable): install \(name) there or configure its path")
        }

        if let input {
            let writer = inputPipe.fileHandleForWriting
            Thread.detachNewThread {
                // A child that exits early makes this fail (EPIPE); its exit status then tells the story.
                try? writer.write(contentsOf: input)
                try? writer.close()
            }
        }
        async let output = readToEnd(outputPipe.fileHandleForReading)
        async let errors = readToEnd(errorPipe.fileHandleForReading)

        let watchdog = Task { () -> Bool in
            do {
                try await Task.sleep(for: timeout)
            } catch {
                return false
            }
            stop(process)
            return true
        }
        // Iterating the stream in the caller's task would end early when that task is cancelled, and reading the
        // status of a running process traps; an unstructured task waits for the real exit whatever happens.
        let exit = Task {
            for await _ in exited.stream {}
        }
        await withTaskCancellationHandler {
            await exit.value
        } onCancel: {
            stop(process)
        }
        watchdog.cancel()
        let timedOut = await watchdog.value
        try Task.checkCancellation()
        return SpeechProcessResult(
            status: process.terminationStatus,
            standardOutput: await output,
            standardError: await errors,
            timedOut: timedOut
        )
    }

    /// SIGKILL rather than Process.terminate(): a child spawned from a libdispatch worker thread inherits that thread's
    /// blocked SIGTERM and would ignore it (seen with espeak-ng). The engines keep no state worth a graceful exit.
    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
    }

    private static func readToEnd(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = (try? handle.readToEnd()) ?? Data()
                continuation.resume(returning: data)
            }
        }
    }
}
