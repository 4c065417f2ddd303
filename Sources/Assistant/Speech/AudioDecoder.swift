import Foundation

/// Compressed uploads (MP3, OGG, WebM, M4A, FLAC: what browsers, phones and Open WebUI record)
/// turned into 16 kHz mono WAV by ffmpeg (Debian's `ffmpeg`), when it is installed. The audio
/// goes in on stdin and comes out on stdout: no file names, so nothing in the upload can become
/// an option or a path, and only the pipe protocol is allowed, so a playlist in the upload cannot
/// make ffmpeg open files or URLs.
package struct AudioDecoder: Sendable {
    package var ffmpeg: String
    package var timeout: Duration

    package init(ffmpeg: String = "/usr/bin/ffmpeg", timeout: Duration = .seconds(60)) {
        self.ffmpeg = ffmpeg
        self.timeout = timeout
    }

    package var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: ffmpeg) }

    /// WAV bytes (16-bit PCM, mono, 16 kHz) of `data`, at most `maxSeconds` of it.
    package func decode(_ data: Data, maxSeconds: Double) async throws -> Data {
        let result = try await SpeechProcess.run(
            executable: ffmpeg,
            arguments: [
                "-hide_banner", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "pipe",
                "-i", "pipe:0", "-vn", "-ac", "1", "-ar", "16000", "-t", String(format: "%.1f", maxSeconds + 1),
                "-f", "wav", "-acodec", "pcm_s16le", "pipe:1",
            ],
            input: data,
            timeout: timeout
        )
        guard result.status == 0, !result.timedOut, result.standardOutput.starts(with: Array("RIFF".utf8)) else {
            throw SpeechInputError.undecodable(result.timedOut ? "decoding took longer than \(timeout)" : result.errorSummary)
        }
        return result.standardOutput
    }

    /// The formats OpenAI's `response_format` names that ffmpeg writes here: the format's name,
    /// ffmpeg's muxer and codec, and the content type.
    package static let encodings: [String: (muxer: String, codec: String, contentType: String)] = [
        "mp3": ("mp3", "libmp3lame", "audio/mpeg"),
        "aac": ("adts", "aac", "audio/aac"),
        "flac": ("flac", "flac", "audio/flac"),
    ]

    /// `wav` encoded as `format` (a key of `encodings`).
    package func encode(_ wav: Data, as format: String) async throws -> Data {
        guard let encoding = Self.encodings[format] else { throw SpeechEngineError("no encoder for \(format)") }
        let result = try await SpeechProcess.run(
            executable: ffmpeg,
            arguments: [
                "-hide_banner", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "pipe",
                "-f", "wav", "-i", "pipe:0", "-vn", "-c:a", encoding.codec, "-f", encoding.muxer, "pipe:1",
            ],
            input: wav,
            timeout: timeout
        )
        guard result.status == 0, !result.timedOut, !result.standardOutput.isEmpty else {
            throw SpeechEngineError("ffmpeg could not write \(format): " + (result.timedOut ? "it took longer than \(timeout)" : result.errorSummary))
        }
        return result.standardOutput
    }
}
