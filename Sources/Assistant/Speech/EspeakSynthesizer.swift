import Foundation

/// Speech from the espeak-ng binary: robotic but instant, offline and small, in Russian and English alike.
package struct EspeakSynthesizer: SpeechSynthesizer {
    package var executable: String
    package var timeout: Duration
    /// Output is trusted more than uploads but still bounded: an hour of speech is far past any sensible request.
    package var outputLimits: AudioLimits

    /// espeak-ng's default rate, which OpenAI's speed 1 maps to.
    static let normalWordsPerMinute = 175.0

    package init(
        executable: String = "/usr/bin/espeak-ng",
        timeout: Duration = .seconds(60),
        outputLimits: AudioLimits = AudioLimits(maxBytes: 256 * 1024 * 1024, maxSeconds: 3600, minSeconds: 0)
    ) {
        self.executable = executable
        self.timeout = timeout
        self.outputLimits = outputLimits
    }

    /// True when the binary is there and runs; cheap enough for a startup check, not for every request.
    package static func isAvailable(executable: String = "/usr/bin/espeak-ng") -> Bool {
        guard FileManager.default.isExecutableFile(atPath: executable) else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--version"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return false
        }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// OpenAI's speed (0.25...4, 1 normal) as espeak-ng's words per minute, kept where espeak-ng stays intelligible.
    static func wordsPerMinute(speed: Double?) -> Int {
        guard let speed, speed.isFinite, speed > 0 else { return Int(normalWordsPerMinute) }
        return Int(min(450, max(80, (speed * normalWordsPerMinute).rounded())))
    }

    package func synthesize(_ text: String, voice: VoiceProfile, speed: Double?) async throws -> WAVAudio {
        guard text.contains(where: { $0.isLetter || $0.isNumber }) else {
            throw SpeechEngineError("the text to speak has no words; send at least one word in `input`")
        }
        var arguments = ["--stdin", "--stdout", "-b", "1", "-v", voice.espeakVoice, "-s", String(Self.wordsPerMinute(speed: speed))]
        if let pitch = voice.pitch {
            arguments += ["-p", String(min(99, max(0, pitch)))]
        }
        // The text goes on stdin, never in the arguments, so a text starting with "-" cannot become an option.
        let result = try await SpeechProcess.run(executable: executable, arguments: arguments, input: Data(text.utf8), timeout: timeout)
        if result.timedOut {
            throw SpeechEngineError("espeak-ng took longer than \(timeout) and was stopped; send a shorter text")
        }
        guard result.status == 0 else {
            throw SpeechEngineError("espeak-ng failed (exit \(result.status)) for voice \(voice.espeakVoice): \(result.errorSummary)")
        }
        do {
            return try WAVAudio.parse(result.standardOutput, limits: outputLimits)
        } catch {
            throw SpeechEngineError("espeak-ng wrote audio that could not be read: \(error)")
        }
    }
}
