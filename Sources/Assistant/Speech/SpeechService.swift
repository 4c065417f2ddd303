import Core
import Crypto
import Foundation

/// Speech for the HTTP routes and the assistant: the engines chosen at startup (embedded espeak-ng
/// and pocketsphinx, or OpenAI-compatible servers), the WAV cache in front of synthesis, and the
/// translation of engine and upload failures into answers that say what to change.
package struct SpeechService: Sendable {
    package let synthesizer: any SpeechSynthesizer
    package let recognizer: any SpeechRecognizer
    package let cache: SpeechCache
    /// What one upload may bring.
    package let limits: AudioLimits
    /// Compressed uploads to WAV, when ffmpeg is installed.
    package let decoder: AudioDecoder

    /// OpenAI's bound on `input` of /v1/audio/speech.
    package static let maxInput = 4096
    /// OpenAI's accepted `speed`.
    package static let speeds = 0.25...4.0
    /// More expected phrases no longer constrain recognition and only make it slow.
    package static let maxPhrases = 1000

    package init(
        synthesizer: any SpeechSynthesizer,
        recognizer: any SpeechRecognizer,
        cache: SpeechCache,
        limits: AudioLimits = AudioLimits(),
        decoder: AudioDecoder = AudioDecoder()
    ) {
        self.synthesizer = synthesizer
        self.recognizer = recognizer
        self.cache = cache
        self.limits = limits
        self.decoder = decoder
    }

    /// Remote engines where a server is configured, the embedded ones otherwise.
    package static func make(ttsURL: URL?, sttURL: URL?, key: Secret?, transport: LLMTransport, cacheDirectory: URL) -> SpeechService {
        let synthesizer: any SpeechSynthesizer =
            if let ttsURL {
                OpenAISpeechSynthesizer(server: OpenAISpeechServer(baseURL: ttsURL, key: key, transport: transport))
            } else {
                EspeakSynthesizer()
            }
        let recognizer: any SpeechRecognizer =
            if let sttURL {
                OpenAISpeechRecognizer(server: OpenAISpeechServer(baseURL: sttURL, key: key, transport: transport))
            } else {
                PocketsphinxRecognizer()
            }
        return SpeechService(synthesizer: synthesizer, recognizer: recognizer, cache: SpeechCache(directory: cacheDirectory))
    }

    // MARK: synthesis

    /// A WAV of `text` and the key it is cached under (`GET /audio/<key>.wav` serves it).
    /// `field` names the text in errors: `input` for OpenAI's route, `text` for the seed's.
    package func synthesize(
        text: String,
        voice: VoiceProfile,
        speed: Double?,
        field: String = "input"
    ) async throws -> (
        wav: Data, cacheKey: String
    ) {
        let text = try Self.checkedText(text, field: field)
        try Self.checkSpeed(speed)
        let key = cacheKey(text: text, voice: voice, speed: speed)
        if let cached = await cache.get(key) { return (cached, key) }
        if let problem = synthesisProblem() { throw AppError(.serviceUnavailable, problem, code: "speech_unavailable") }
        let audio: WAVAudio
        do {
            audio = try await synthesizer.synthesize(text, voice: voice, speed: speed)
        } catch let error as SpeechEngineError {
            throw Self.engineFailure(error, remote: synthesizer is OpenAISpeechSynthesizer)
        }
        let wav = audio.wavData()
        // A full disk costs the next caller a synthesis, not this one its answer.
        try? await cache.put(key, data: wav)
        return (wav, key)
    }

    /// Synthesizes into the cache in the background, so the audio of a chat answer is ready (or
    /// nearly) when the client asks for it. Returns the cache key, or nil for a text that cannot
    /// be spoken; failures are dropped, since the request that needs the audio will report them.
    @discardableResult
    package func prewarm(text: String, voice: VoiceProfile, speed: Double? = nil) -> String? {
        guard let checked = try? Self.checkedText(text, field: "input"), (try? Self.checkSpeed(speed)) != nil else { return nil }
        let service = self
        Task.detached(priority: .background) {
            _ = try? await service.synthesize(text: checked, voice: voice, speed: speed)
        }
        return cacheKey(text: checked, voice: voice, speed: speed)
    }

    /// A WAV synthesized earlier, by its key; nil for an unknown or malformed key.
    package func cachedWAV(_ key: String) async -> Data? {
        await cache.get(key)
    }

    /// Lowercase hex SHA-256 of everything that changes the sound: the engine (and its server and
    /// model), the voice with its rendering, the speed and the text.
    package func cacheKey(text: String, voice: VoiceProfile, speed: Double?) -> String {
        let parts = [
            Self.engineIdentity(synthesizer), voice.id, voice.espeakVoice, voice.pitch.map(String.init) ?? "-",
            speed.map { String(format: "%.3f", $0) } ?? "-", text,
        ]
        return Hex.encode(SHA256.hash(data: Data(parts.joined(separator: "\u{0}").utf8)))
    }

    static func engineIdentity(_ synthesizer: any SpeechSynthesizer) -> String {
        switch synthesizer {
        case let remote as OpenAISpeechSynthesizer: "openai \(remote.server.endpoint("audio/speech")) \(remote.model)"
        case is EspeakSynthesizer: "espeak-ng"
        default: String(describing: type(of: synthesizer))
        }
    }

    static func checkedText(_ text: String, field: String) throws -> String {
        let trimmed = text.trimmingWhitespace
        guard !trimmed.isEmpty else { throw AppError.validation(field: field, "must not be empty; send the text to speak") }
        let count = trimmed.unicodeScalars.count
        guard count <= maxInput else {
            throw AppError.validation(field: field, "must be at most \(maxInput) characters (got \(count)); split the text")
        }
        guard trimmed.contains(where: { $0.isLetter || $0.isNumber }) else {
            throw AppError.validation(field: field, "has no words to speak; send at least one word")
        }
        return trimmed
    }

    static func checkSpeed(_ speed: Double?) throws {
        guard let speed else { return }
        guard speeds.contains(speed) else {
            throw AppError.validation(field: "speed", "must be between \(speeds.lowerBound) and \(speeds.upperBound) (1 is normal)")
        }
    }

    // MARK: recognition

    /// The upload as audio: a WAV as it is; another container through ffmpeg when it is there.
    /// The size limit applies to what was sent, the length limit to what it decodes to.
    func wav(of data: Data) async throws(SpeechInputError) -> WAVAudio {
        do {
            return try WAVAudio.parse(data, limits: limits)
        } catch {
            guard case .notWAV = error, decoder.isAvailable, !data.isEmpty else { throw error }
            guard data.count <= limits.maxBytes else { throw .tooLarge(bytes: data.count, max: limits.maxBytes) }
            let decoded: Data
            do {
                decoded = try await decoder.decode(data, maxSeconds: limits.maxSeconds)
            } catch let problem as SpeechInputError {
                throw problem
            } catch {
                throw .undecodable("\(error)")
            }
            return try WAVAudio.parse(decoded, limits: AudioLimits(maxBytes: .max, maxSeconds: limits.maxSeconds, minSeconds: limits.minSeconds))
        }
    }

    /// What is said in an upload. `field` names the upload in errors (`file`, or `audio` for
    /// /process_call). `phrases` are what the caller expects to hear (see `SpeechRecognizer`).
    package func transcribe(data: Data, language: String?, phrases: [String], field: String = "file") async throws -> Transcript {
        let audio: WAVAudio
        do {
            audio = try await wav(of: data)
        } catch {
            throw Self.inputFailure(error, field: field)
        }
        if recognizer is PocketsphinxRecognizer, !PocketsphinxRecognizer.isEnglish(language) {
            throw AppError.validation(
                field: "language",
                "the embedded recognizer hears English only, not '\(language ?? "")'; leave it out or send en, "
                    + "or set ATELIER_STT_URL to an OpenAI-compatible speech server for other languages"
            )
        }
        if let problem = recognitionProblem() { throw AppError(.serviceUnavailable, problem, code: "speech_unavailable") }
        do {
            return try await recognizer.transcribe(audio, language: language, phrases: Array(phrases.prefix(Self.maxPhrases)))
        } catch let error as SpeechEngineError {
            throw Self.engineFailure(error, remote: recognizer is OpenAISpeechRecognizer)
        }
    }

    static func inputFailure(_ error: SpeechInputError, field: String) -> AppError {
        switch error {
        case .tooLarge, .tooLong: AppError(.contentTooLarge, "\(field): \(error)", code: "audio_too_large", field: field)
        default: AppError(.badRequest, "\(field): \(error)", code: "invalid_audio", field: field)
        }
    }

    static func engineFailure(_ error: SpeechEngineError, remote: Bool) -> AppError {
        AppError(.badGateway, error.message, code: remote ? "speech_upstream_error" : "speech_engine_error")
    }

    // MARK: health

    /// For /health: "running", "remote" (a configured server, not probed), or "unavailable: why".
    package func status() -> (tts: String, stt: String) {
        func state(_ problem: String?, remote: Bool) -> String {
            if let problem { return "unavailable: " + problem }
            return remote ? "remote" : "running"
        }
        return (
            state(synthesisProblem(), remote: synthesizer is OpenAISpeechSynthesizer),
            state(recognitionProblem(), remote: recognizer is OpenAISpeechRecognizer)
        )
    }

    /// Why the embedded synthesizer cannot run; file checks only, cheap enough for every request.
    func synthesisProblem() -> String? {
        guard let espeak = synthesizer as? EspeakSynthesizer, !FileManager.default.isExecutableFile(atPath: espeak.executable) else {
            return nil
        }
        return "speech synthesis is not installed: \(espeak.executable) is missing; install espeak-ng or set ATELIER_TTS_URL"
    }

    func recognitionProblem() -> String? {
        guard let sphinx = recognizer as? PocketsphinxRecognizer,
            !PocketsphinxRecognizer.isAvailable(executable: sphinx.executable, modelDirectory: sphinx.modelDirectory)
        else { return nil }
        return "speech recognition is not installed: \(sphinx.executable) or its model in \(sphinx.modelDirectory) is missing; "
            + "install pocketsphinx and pocketsphinx-en-us or set ATELIER_STT_URL"
    }
}
