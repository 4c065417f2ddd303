import AsyncHTTPClient
import Core
import Foundation
import NIOCore

/// Text to speech on an OpenAI-compatible server (`ATELIER_TTS_URL`): OpenAI itself, openedai-speech,
/// Kokoro-FastAPI, … Asked for WAV, so the answer is read like espeak-ng's and cached the same way.
package struct OpenAISpeechSynthesizer: SpeechSynthesizer {
    package var server: OpenAISpeechServer
    package var model: String
    /// An hour of 48 kHz speech; far past any answer worth speaking.
    package var outputLimits: AudioLimits

    package init(
        server: OpenAISpeechServer,
        model: String = "tts-1",
        outputLimits: AudioLimits = AudioLimits(maxBytes: 384 * 1024 * 1024, maxSeconds: 3600, minSeconds: 0)
    ) {
        self.server = server
        self.model = model
        self.outputLimits = outputLimits
    }

    struct Body: Encodable {
        var model: String
        var input: String
        var voice: String
        var response_format = "wav"
        var speed: Double?
    }

    package func synthesize(_ text: String, voice: VoiceProfile, speed: Double?) async throws -> WAVAudio {
        let body = try JSONEncoder().encode(Body(model: model, input: text, voice: voice.id, speed: speed))
        let answer = try await server.post(
            "audio/speech",
            body: body,
            contentType: "application/json",
            accept: "audio/wav",
            maxBytes: outputLimits.maxBytes
        )
        do {
            return try WAVAudio.parse(answer, limits: outputLimits)
        } catch {
            throw SpeechEngineError("the speech server at \(server.name) answered with audio that could not be read as WAV: \(error)")
        }
    }
}

/// Speech to text on an OpenAI-compatible server (`ATELIER_STT_URL`): OpenAI's Whisper,
/// faster-whisper-server, whisper.cpp's server, … — the way to Russian and other languages.
package struct OpenAISpeechRecognizer: SpeechRecognizer {
    package var server: OpenAISpeechServer
    package var model: String
    /// Whisper hears 16 kHz; sending more only makes the upload bigger.
    static let uploadSampleRate = 16_000
    /// Whisper reads only the last 224 tokens of a prompt.
    static let maxPromptCharacters = 1000

    package init(server: OpenAISpeechServer, model: String = "whisper-1") {
        self.server = server
        self.model = model
    }

    struct Answer: Decodable {
        var text: String
        var language: String?
        var duration: Double?
    }

    package func transcribe(_ audio: WAVAudio, language: String?, phrases: [String]) async throws -> Transcript {
        let upload = audio.sampleRate > Self.uploadSampleRate ? audio.resampled(to: Self.uploadSampleRate) : audio
        var fields: [(String, String)] = [("model", model), ("response_format", "json")]
        let language = language?.trimmingCharacters(in: .whitespaces).lowercased()
        if let language, !language.isEmpty { fields.append(("language", language)) }
        // Whisper has no grammar; a prompt naming the expected words biases it towards them.
        let prompt = String(phrases.joined(separator: ", ").prefix(Self.maxPromptCharacters))
        if !prompt.isEmpty { fields.append(("prompt", prompt)) }
        let form = MultipartForm(
            fields: fields,
            files: [.init(field: "file", filename: "audio.wav", contentType: "audio/wav", data: upload.wavData())]
        )
        let body = try await server.post(
            "audio/transcriptions",
            body: form.body,
            contentType: form.contentType,
            accept: "application/json",
            maxBytes: 4 << 20
        )
        guard let answer = try? JSONDecoder().decode(Answer.self, from: body) else {
            throw SpeechEngineError("the speech server at \(server.name) answered without a JSON {\"text\": …}; is it OpenAI-compatible?")
        }
        let text = answer.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return Transcript(text: text, language: language ?? answer.language ?? "und", duration: answer.duration ?? audio.duration)
    }
}

/// One OpenAI-compatible speech server: where it is, its key, and how requests reach it.
package struct OpenAISpeechServer: Sendable {
    /// Ends in `/v1` (`https://api.openai.com/v1`).
    package var baseURL: URL
    package var key: Secret?
    package var transport: LLMTransport
    /// To the response head; synthesis of a long text or transcription of a long clip takes a while.
    package var timeout: TimeAmount

    package init(baseURL: URL, key: Secret?, transport: LLMTransport, timeout: TimeAmount = .seconds(120)) {
        self.baseURL = baseURL
        self.key = key
        self.transport = transport
        self.timeout = timeout
    }

    /// Host and port only: a base URL may carry credentials, which errors and /health must not show.
    package var name: String {
        let host = baseURL.host ?? "?"
        return baseURL.port.map { "\(host):\($0)" } ?? host
    }

    func endpoint(_ path: String) -> String {
        let base = baseURL.absoluteString
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + path
    }

    /// The body of a 2xx answer; anything else is a `SpeechEngineError` naming the server and the status.
    func post(_ path: String, body: Data, contentType: String, accept: String, maxBytes: Int) async throws -> Data {
        var request = HTTPClientRequest(url: endpoint(path))
        request.method = .POST
        request.headers.add(name: "content-type", value: contentType)
        request.headers.add(name: "accept", value: accept)
        if let key, !key.isEmpty { request.headers.add(name: "authorization", value: "Bearer \(key.value)") }
        request.body = .bytes(ByteBuffer(data: body))

        let response: HTTPClientResponse
        do {
            response = try await transport.send(request, timeout)
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw SpeechEngineError("the speech server at \(name) did not answer within \(timeout.nanoseconds / 1_000_000_000) s")
        } catch {
            throw SpeechEngineError("could not reach the speech server at \(name): \(redacted(transport.describe(error)))")
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = try? await response.body.collect(upTo: 64 << 10)
            throw SpeechEngineError(failure(status: status, body: body))
        }
        do {
            return Data(try await response.body.collect(upTo: maxBytes).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw SpeechEngineError("the speech server at \(name) answered with more than \(maxBytes) bytes")
        } catch {
            throw SpeechEngineError("the answer of the speech server at \(name) was cut: \(redacted(transport.describe(error)))")
        }
    }

    struct ErrorBody: Decodable {
        struct Inner: Decodable { var message: String? }
        var error: Inner?
        var detail: String?
    }

    /// The status, what to check, and for a refused request the server's own reason (OpenAI-compatible
    /// servers say which field is wrong), with the key cut out should the server echo it.
    func failure(status: Int, body: ByteBuffer?) -> String {
        var message = "the speech server at \(name) answered HTTP \(status)"
        switch status {
        case 401, 403: message += "; check ATELIER_SPEECH_API_KEY"
        case 404: message += "; check that its base URL ends in /v1 (\(name)\(baseURL.path))"
        default: break
        }
        if [400, 404, 413, 415, 422].contains(status), let body,
            let parsed = try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)),
            let reason = parsed.error?.message ?? parsed.detail, !reason.isEmpty
        {
            message += ": " + redacted(String(reason.prefix(300)))
        }
        return message
    }

    func redacted(_ text: String) -> String {
        guard let key, key.value.count >= 4 else { return text }
        return text.replacingOccurrences(of: key.value, with: "<redacted>")
    }
}
