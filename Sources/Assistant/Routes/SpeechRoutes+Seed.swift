import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Seed 004's own speech routes: `/tts`, `/stt`, `/process_call` and the cached audio they point to.
extension SpeechRoutes {
    struct TTSInput: Decodable, BoundedInput {
        var text: String
        var voice_id: String?
        var speed: Double?

        func checkBounds() throws {
            try Bounded.text(text, field: "text", max: SpeechService.maxInput)
            try Bounded.text(voice_id, field: "voice_id", max: 64)
        }
    }

    static func registerSeedSpeech(on table: RouteTable, speech: SpeechService, presets: TTSPresetStore) {
        table.post(
            "/tts",
            OperationDoc(
                "Seed 004: speak `text` in `voice_id` (GET /v1/voices, or the name of one of your TTS presets; anna_ru when absent) as a WAV; cached by voice, speed and text",
                tags: seedTags,
                auth: .writer,
                request: Schema.object(
                    [
                        ("text", Schema.string(maxLength: SpeechService.maxInput)),
                        ("voice_id", Schema.string(maxLength: 64)),
                        ("speed", Schema.number),
                    ],
                    required: ["text"]
                ),
                responses: [.init(200, "The speech", contentType: "audio/wav")],
                errors: [502, 503]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let input = try await request.decodeJSON(TTSInput.self, context: context)
            let chosen = try await resolveVoice(input.voice_id, speed: input.speed, field: "voice_id", principal: principal, presets: presets)
            let spoken = try await speech.synthesize(text: input.text, voice: chosen.voice, speed: chosen.speed, field: "text")
            return audioResponse(spoken.wav, contentType: "audio/wav")
        }

        table.post(
            "/stt",
            OperationDoc(
                "Seed 004: what is said in the multipart field `file` (a WAV), as {text}. Optional fields: `language`, and "
                    + "`phrases` (or `prompt`): what may be said, one phrase per line or a JSON array, which makes the embedded "
                    + "recognizer hear only those",
                tags: seedTags,
                auth: .writer,
                responses: [.init(200, "What was said", schema: Schema.object([("text", Schema.string)], required: ["text"]))],
                errors: [400, 413, 422, 502, 503]
            )
        ) { request, context in
            _ = try context.requireWriter()
            let form = try await multipart(request, context: context)
            let upload = try UploadFields(form, fileField: "file", phrasesField: form.first(named: "phrases") == nil ? "prompt" : "phrases")
            let transcript = try await speech.transcribe(data: upload.audio, language: upload.language, phrases: upload.phrases)
            return TranscriptionText(text: transcript.text)
        }
    }

    // MARK: seed 004: /process_call

    struct CallAnswer: ResponseEncodable {
        var transcription: String
        var response: String
        /// Nil when the answer has nothing to speak.
        var audio_url: String?
        var session_id: String
    }

    static func registerProcessCall(on table: RouteTable, speech: SpeechService, secretary: Secretary) {
        table.post(
            "/process_call",
            OperationDoc(
                "Seed 004: one turn of a phone call. Multipart field `audio` (a WAV) is transcribed, the persona (`persona`, "
                    + "default anna) answers it in your running call conversation, and the answer is spoken in the persona's voice: "
                    + "{transcription, response, audio_url} with audio_url at GET /audio/{key}.wav. Optional `phrases` (one per "
                    + "line or a JSON array) lists what the caller may say; optional `language`",
                tags: seedTags,
                auth: .writer,
                responses: [
                    .init(
                        200,
                        "The turn",
                        schema: Schema.object(
                            [
                                ("transcription", Schema.string), ("response", Schema.string), ("audio_url", Schema.nullable(Schema.string)),
                                ("session_id", Schema.string),
                            ],
                            required: ["transcription", "response", "audio_url"]
                        )
                    )
                ],
                errors: [400, 413, 422, 502, 503, 504]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let form = try await multipart(request, context: context)
            let upload = try UploadFields(form, fileField: "audio", phrasesField: "phrases")
            let personaName = form.text("persona")?.trimmingWhitespace
            try Bounded.text(personaName, field: "persona", max: 64)
            let persona = try secretary.persona(personaName?.isEmpty == false ? personaName : nil)

            let transcript = try await speech.transcribe(data: upload.audio, language: upload.language, phrases: upload.phrases, field: "audio")
            let heard = transcript.text.trimmingWhitespace
            guard !heard.isEmpty else {
                throw AppError.validation(
                    field: "audio",
                    "no speech was heard; record closer to the microphone, or send `phrases` with what may be said"
                )
            }
            let session = try await secretary.sessions.current(
                owner: principal.userID,
                persona: persona.name,
                source: callSource,
                now: Timestamp.millis(Date())
            )
            let answer = try await secretary.reply(heard, in: session, as: principal)

            var audioURL: String?
            let spoken = speakable(answer)
            if !spoken.isEmpty {
                let voice = VoiceCatalog.find(persona.voice) ?? VoiceCatalog.standard
                let key = try await speech.synthesize(text: spoken, voice: voice, speed: nil, field: "response").cacheKey
                audioURL = "/audio/\(key).wav"
            }
            return CallAnswer(transcription: heard, response: answer, audio_url: audioURL, session_id: session.id)
        }
    }

    /// What of an answer can be spoken: empty when it has no words, else at most `SpeechService.maxInput`
    /// characters, cut at a space so no word is spoken half.
    static func speakable(_ answer: String) -> String {
        let text = answer.trimmingWhitespace
        guard text.contains(where: { $0.isLetter || $0.isNumber }) else { return "" }
        guard text.unicodeScalars.count > SpeechService.maxInput else { return text }
        var scalars = String.UnicodeScalarView(text.unicodeScalars.prefix(SpeechService.maxInput))
        if let space = scalars.lastIndex(where: { $0.properties.isWhitespace }) { scalars = String.UnicodeScalarView(scalars[..<space]) }
        return String(scalars)
    }

    // MARK: /audio/{name}

    static func registerAudio(on table: RouteTable, speech: SpeechService) {
        table.get(
            "/audio/{name}",
            OperationDoc(
                "A WAV spoken earlier (the audio_url of /process_call), by its key: `<hex>.wav`",
                tags: seedTags,
                auth: .role(.guest),
                responses: [.init(200, "The speech", contentType: "audio/wav")]
            )
        ) { _, context in
            _ = try context.requirePrincipal()
            let name = try context.parameters.require("name")
            let key = name.lowercased().hasSuffix(".wav") ? String(name.dropLast(4)) : name
            guard let wav = await speech.cachedWAV(key) else {
                throw AppError.notFound("no audio '\(name.prefix(140))'; audio URLs come from /process_call and expire as the cache fills")
            }
            // The key is a hash of what was spoken: the file behind it never changes.
            return Response(
                status: .ok,
                headers: [.contentType: "audio/wav", .cacheControl: "private, max-age=86400, immutable"],
                body: .init(byteBuffer: ByteBuffer(data: wav))
            )
        }
    }
}
