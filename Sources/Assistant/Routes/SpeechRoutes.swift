import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Speech over HTTP: OpenAI's `/v1/audio/speech`, `/v1/audio/transcriptions` and the voice list,
/// and seed 004's `/tts`, `/stt` and `/process_call` (a phone turn: speech in, the persona's
/// spoken answer out) with `/audio/{key}.wav` serving what was spoken. All need credentials:
/// every call costs seconds of CPU or a paid upstream.
///
/// Only WAV is read and written (no codecs are linked). Uploads are multipart/form-data, bounded
/// by the server's body limit and by `AudioLimits`.
package enum SpeechRoutes {
    static let openAITags = ["openai", "speech"]
    static let seedTags = ["secretary", "compat", "speech"]
    /// The conversation a phone call continues (`ChatSession.source`).
    static let callSource = "call"

    package static func register(on table: RouteTable, speech: SpeechService, secretary: Secretary, presets: TTSPresetStore) {
        registerVoices(on: table)
        registerOpenAISpeech(on: table, speech: speech, presets: presets)
        registerOpenAITranscription(on: table, speech: speech)
        registerSeedSpeech(on: table, speech: speech, presets: presets)
        registerProcessCall(on: table, speech: speech, secretary: secretary)
        registerAudio(on: table, speech: speech)
    }

    // MARK: voices

    struct Voice: Encodable {
        var id: String
        var name: String
    }

    struct VoiceList: ResponseEncodable {
        var voices: [Voice]
    }

    static func registerVoices(on table: RouteTable) {
        table.get(
            "/v1/voices",
            OperationDoc(
                "The voices `voice` (and /tts's `voice_id`) may name: the assistant's own, and OpenAI's names mapped to similar ones",
                tags: openAITags,
                auth: .role(.guest),
                responses: [
                    .init(
                        200,
                        "The voices",
                        schema: Schema.object(
                            [("voices", Schema.array(Schema.object([("id", Schema.string), ("name", Schema.string)])))],
                            required: ["voices"]
                        )
                    )
                ]
            )
        ) { _, context in
            _ = try context.requirePrincipal()
            return VoiceList(voices: VoiceCatalog.all.map { Voice(id: $0.id, name: $0.name) })
        }
    }

    /// The voice and speed to speak with: a voice id, or the name of one of the caller's TTS
    /// presets (`/admin/tts/presets`: a voice with its speed and pitch). A speed in the request
    /// wins over the preset's.
    static func resolveVoice(
        _ id: String?,
        speed: Double?,
        field: String,
        principal: Principal,
        presets: TTSPresetStore
    ) async throws -> (voice: VoiceProfile, speed: Double?) {
        if let id, !id.trimmingWhitespace.isEmpty, VoiceCatalog.find(id) == nil,
            let preset = try await presets.find(name: id.trimmingWhitespace, owner: principal.userID)
        {
            guard var voice = VoiceCatalog.find(preset.voice) else {
                throw AppError.validation(
                    field: field,
                    "your TTS preset '\(preset.name)' names a voice this server does not have (\(preset.voice.prefix(64)))"
                )
            }
            if let pitch = preset.pitch { voice.pitch = pitch }
            return (voice, speed ?? Double(preset.speed_percent) / 100)
        }
        return (try resolveVoice(id, field: field), speed)
    }

    static func resolveVoice(_ id: String?, field: String) throws -> VoiceProfile {
        guard let id, !id.trimmingWhitespace.isEmpty else { return VoiceCatalog.standard }
        guard let voice = VoiceCatalog.find(id) else {
            let known = VoiceCatalog.all.map(\.id).joined(separator: ", ")
            throw AppError.validation(
                field: field,
                "no voice or TTS preset of yours named '\(id.prefix(64))'; known voices: \(known) (GET /v1/voices)"
            )
        }
        return voice
    }

    // MARK: /v1/audio/speech

    struct SpeechInput: Decodable, BoundedInput {
        var model: String?
        var input: String
        var voice: String?
        var response_format: String?
        var speed: Double?
        /// OpenAI's tone instructions; no engine here follows them, so they are accepted and ignored.
        var instructions: String?

        func checkBounds() throws {
            try Bounded.text(model, field: "model", max: 128)
            try Bounded.text(input, field: "input", max: SpeechService.maxInput)
            try Bounded.text(voice, field: "voice", max: 64)
            try Bounded.text(response_format, field: "response_format", max: 32)
            try Bounded.text(instructions, field: "instructions", max: 4096)
        }
    }

    enum AudioFormat {
        case wav
        /// OpenAI's pcm: 24 kHz s16le mono, no header.
        case pcm
        /// OGG/Opus, when opus-tools are installed.
        case opus
        /// mp3, aac or flac, when ffmpeg is installed.
        case ffmpeg(String)
    }

    static func audioFormat(_ value: String?, opus: OpusCodec = OpusCodec(), ffmpeg: AudioDecoder = AudioDecoder()) throws -> AudioFormat {
        let format = value?.trimmingWhitespace.lowercased() ?? ""
        switch format {
        case "", "wav": return .wav
        case "pcm": return .pcm
        case "opus" where opus.isAvailable: return .opus
        case "mp3" where ffmpeg.isAvailable, "aac" where ffmpeg.isAvailable, "flac" where ffmpeg.isAvailable: return .ffmpeg(format)
        case "mp3", "opus", "aac", "flac":
            throw AppError(
                .badRequest,
                "response_format: '\(format)' is not available here (no encoder: opus needs opus-tools, mp3, aac and flac need ffmpeg); use wav or pcm",
                code: "unsupported_response_format",
                field: "response_format"
            )
        default:
            throw AppError.validation(field: "response_format", "must be wav or pcm (got '\(format.prefix(32))')")
        }
    }

    static func registerOpenAISpeech(on table: RouteTable, speech: SpeechService, presets: TTSPresetStore) {
        table.post(
            "/v1/audio/speech",
            OperationDoc(
                "Text to speech as OpenAI's API takes it. `response_format` is wav (also when absent: unlike OpenAI's mp3 default) "
                    + "or pcm (24 kHz s16le mono), or opus (OGG) when opus-tools are installed; mp3, aac and flac are refused. `model` is accepted and "
                    + "ignored; answers are cached, so a repeated text costs nothing",
                tags: openAITags,
                auth: .writer,
                request: Schema.object(
                    [
                        ("model", Schema.string(maxLength: 128)),
                        ("input", Schema.string(maxLength: SpeechService.maxInput)),
                        (
                            "voice",
                            Schema.string(maxLength: 64, description: "a voice id from GET /v1/voices, or the name of one of your TTS presets")
                        ),
                        ("response_format", Schema.string(enum: ["wav", "pcm", "opus"])),
                        ("speed", Schema.number),
                        ("instructions", Schema.string(maxLength: 4096)),
                    ],
                    required: ["input"]
                ),
                responses: [.init(200, "The speech", contentType: "audio/wav")],
                errors: [502, 503]
            )
        ) { request, context in
            _ = try context.requireWriter()
            let input = try await request.decodeJSON(SpeechInput.self, context: context)
            let format = try audioFormat(input.response_format)
            let chosen = try await resolveVoice(
                input.voice,
                speed: input.speed,
                field: "voice",
                principal: try context.requireWriter(),
                presets: presets
            )
            let spoken = try await speech.synthesize(text: input.input, voice: chosen.voice, speed: chosen.speed)
            switch format {
            case .wav:
                return audioResponse(spoken.wav, contentType: "audio/wav")
            case .pcm:
                return audioResponse(try pcm(spoken.wav), contentType: "audio/pcm")
            case .opus:
                let audio = try WAVAudio.parse(spoken.wav, limits: AudioLimits(maxBytes: .max, maxSeconds: .infinity, minSeconds: 0))
                do {
                    return audioResponse(try await OpusCodec().encode(audio), contentType: "audio/ogg")
                } catch let error as SpeechEngineError {
                    throw AppError(.badGateway, error.message, code: "speech_engine_error")
                }
            case .ffmpeg(let name):
                do {
                    let encoded = try await AudioDecoder().encode(spoken.wav, as: name)
                    return audioResponse(encoded, contentType: AudioDecoder.encodings[name]?.contentType ?? "application/octet-stream")
                } catch let error as SpeechEngineError {
                    throw AppError(.badGateway, error.message, code: "speech_engine_error")
                }
            }
        }
    }

    /// The cached WAV as OpenAI's pcm. It was written here, so only a damaged cache file fails.
    static func pcm(_ wav: Data) throws -> Data {
        do {
            let audio = try WAVAudio.parse(wav, limits: AudioLimits(maxBytes: .max, maxSeconds: .infinity, minSeconds: 0))
            return audio.openAIPCMData()
        } catch {
            throw AppError(.badGateway, "the synthesized audio could not be read back: \(error)", code: "speech_engine_error")
        }
    }

    static func audioResponse(_ data: Data, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    // MARK: /v1/audio/transcriptions

    struct TranscriptionText: ResponseEncodable {
        var text: String
    }

    struct VerboseTranscription: Encodable {
        struct Segment: Encodable {
            var id: Int
            var start: Double
            var end: Double
            var text: String
        }

        var task = "transcribe"
        var language: String
        var duration: Double
        var text: String
        var segments: [Segment]
    }

    enum TranscriptFormat: String {
        case json
        case text
        case verboseJSON = "verbose_json"
    }

    static func transcriptFormat(_ value: String?) throws -> TranscriptFormat {
        let format = value?.trimmingWhitespace.lowercased() ?? ""
        if format.isEmpty { return .json }
        if let known = TranscriptFormat(rawValue: format) { return known }
        if format == "srt" || format == "vtt" {
            throw AppError(
                .badRequest,
                "response_format: '\(format)' is not available here (no segment timings); use json, text or verbose_json",
                code: "unsupported_response_format",
                field: "response_format"
            )
        }
        throw AppError.validation(field: "response_format", "must be json, text or verbose_json (got '\(format.prefix(32))')")
    }

    static func registerOpenAITranscription(on table: RouteTable, speech: SpeechService) {
        table.post(
            "/v1/audio/transcriptions",
            OperationDoc(
                "Speech to text as OpenAI's API takes it: multipart/form-data with `file` (a WAV; MP3, OGG, WebM, M4A or FLAC "
                    + "when ffmpeg is installed), `model` (accepted, ignored), `language`, `prompt`, `response_format` (json, text or verbose_json). "
                    + "`prompt` lists what may be said, two or more phrases one per line (or separated by | or ;, or a JSON array): "
                    + "the embedded recognizer then hears only those phrases, nearly without error. A one-line prompt is OpenAI's "
                    + "context hint: a speech server gets it as Whisper's prompt, the embedded recognizer leaves it out",
                tags: openAITags,
                auth: .writer,
                responses: [
                    .init(
                        200,
                        "What was said: {text}, or text/plain for response_format text",
                        schema: Schema.object([("text", Schema.string)], required: ["text"])
                    )
                ],
                errors: [400, 413, 422, 502, 503]
            )
        ) { request, context in
            _ = try context.requireWriter()
            let form = try await multipart(request, context: context)
            let upload = try UploadFields(form, fileField: "file", phrasesField: "prompt")
            let format = try transcriptFormat(form.text("response_format"))
            try Bounded.text(form.text("model"), field: "model", max: 128)
            // OpenAI's `prompt` is context ("the following is about…"), which a one-phrase grammar
            // would turn into the only thing the embedded recognizer can answer. Only a list of
            // phrases constrains it; a speech server gets the prompt either way.
            let hint = upload.phrases.count == 1 && speech.recognizer is PocketsphinxRecognizer
            let transcript = try await speech.transcribe(data: upload.audio, language: upload.language, phrases: hint ? [] : upload.phrases)
            switch format {
            case .json:
                return try json(TranscriptionText(text: transcript.text))
            case .text:
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: transcript.text))
                )
            case .verboseJSON:
                let segments = (transcript.segments ?? []).enumerated().map { index, segment in
                    VerboseTranscription.Segment(id: index, start: segment.start, end: segment.end, text: segment.text)
                }
                return try json(
                    VerboseTranscription(language: transcript.language, duration: transcript.duration, text: transcript.text, segments: segments)
                )
            }
        }
    }

    static func json(_ value: some Encodable) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: try APIJSON.encode(value)))
    }

    // MARK: multipart uploads

    static func multipart(_ request: Request, context: AppRequestContext) async throws -> [MultipartParser.Part] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw AppError.tooLarge(
                "the upload is over \(context.maxUploadSize) bytes; send a shorter clip (16 kHz mono 16-bit WAV is the smallest)"
            )
        }
        return try MultipartParser.parse(buffer, contentType: request.headers[.contentType])
    }

    /// The fields every speech upload shares: the audio, its language and what may be said in it.
    struct UploadFields {
        var audio: Data
        var language: String?
        var phrases: [String]

        static let maxPhrasesText = 64_000

        init(_ form: [MultipartParser.Part], fileField: String, phrasesField: String) throws {
            guard let file = form.first(named: fileField) else {
                let sent = form.map(\.name).joined(separator: ", ")
                throw AppError(
                    .badRequest,
                    "\(fileField): missing; send the audio (a WAV) as the multipart field `\(fileField)`"
                        + (sent.isEmpty ? "" : " (the fields sent: \(sent.prefix(200)))"),
                    code: "missing_file",
                    field: fileField
                )
            }
            audio = file.data
            let language = form.text("language")?.trimmingWhitespace
            try Bounded.text(language, field: "language", max: 32)
            self.language = language?.isEmpty == false ? language : nil
            let phrasesText = form.text(phrasesField)
            try Bounded.text(phrasesText, field: phrasesField, max: Self.maxPhrasesText)
            phrases = SpeechRoutes.phrases(phrasesText)
        }
    }

    /// Expected phrases: a JSON array of strings, or text with one phrase per line (or separated
    /// by `|` or `;`). A whole sentence is one phrase: the embedded recognizer's grammar matches
    /// exactly one phrase per utterance, so splitting a sentence into words would lose it.
    static func phrases(_ text: String?) -> [String] {
        guard let text = text?.trimmingWhitespace, !text.isEmpty else { return [] }
        if text.hasPrefix("["), let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) {
            return list.map(\.trimmingWhitespace).filter { !$0.isEmpty }
        }
        return text.split { $0.isNewline || $0 == "|" || $0 == ";" }.map(\.trimmingWhitespace).filter { !$0.isEmpty }
    }
}
