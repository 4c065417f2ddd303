import Foundation

/// OGG/Opus in and out through opus-tools (Debian's `opusdec` and `opusenc`): Telegram's voice
/// messages are OGG/Opus both ways, and OpenAI's `response_format: opus` is the same container.
package struct OpusCodec: Sendable {
    package var decoder: String
    package var encoder: String
    package var timeout: Duration
    package var limits: AudioLimits

    package init(
        decoder: String = "/usr/bin/opusdec",
        encoder: String = "/usr/bin/opusenc",
        timeout: Duration = .seconds(60),
        limits: AudioLimits = AudioLimits()
    ) {
        self.decoder = decoder
        self.encoder = encoder
        self.timeout = timeout
        self.limits = limits
    }

    package var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: decoder) && FileManager.default.isExecutableFile(atPath: encoder)
    }

    /// OGG/Opus → 16 kHz audio (what recognizers want).
    package func decode(_ ogg: Data) async throws -> WAVAudio {
        guard ogg.starts(with: Array("OggS".utf8)) else {
            throw SpeechInputError.badHeader("not an OGG/Opus file (it should start with OggS)")
        }
        let result = try await SpeechProcess.run(
            executable: decoder,
            arguments: ["--quiet", "--rate", "16000", "--force-wav", "-", "-"],
            input: ogg,
            timeout: timeout
        )
        guard result.status == 0, !result.timedOut else {
            throw SpeechEngineError("opusdec could not decode the voice message: \(result.timedOut ? "timed out" : result.errorSummary)")
        }
        return try WAVAudio.parse(result.standardOutput, limits: limits)
    }

    /// Audio → OGG/Opus (a voice message).
    package func encode(_ audio: WAVAudio) async throws -> Data {
        let result = try await SpeechProcess.run(
            executable: encoder,
            arguments: ["--quiet", "--speech", "-", "-"],
            input: audio.wavData(),
            timeout: timeout
        )
        guard result.status == 0, !result.timedOut, result.standardOutput.starts(with: Array("OggS".utf8)) else {
            throw SpeechEngineError("opusenc could not encode the answer: \(result.timedOut ? "timed out" : result.errorSummary)")
        }
        return result.standardOutput
    }
}
