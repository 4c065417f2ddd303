import AsyncHTTPClient
import Core
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import Assistant

/// Speech over HTTP with the embedded engines (espeak-ng speaks, pocketsphinx hears): OpenAI's
/// `/v1/audio/*`, seed 004's `/tts`, `/stt`, `/process_call` and `/audio/{key}.wav`.
/// Skipped where the binaries are missing; CI installs them.
@Suite(
    "Speech routes",
    .timeLimit(.minutes(5)),
    .enabled(if: EspeakSynthesizer.isAvailable() && PocketsphinxRecognizer.isAvailable(), "needs espeak-ng and pocketsphinx with pocketsphinx-en-us")
)
struct SpeechTests {
    static let sentence = "hello world please call me back tomorrow"

    /// `sentence` spoken by /v1/audio/speech in anna_en, as a WAV.
    static func speakSentence(_ app: TestApp, token: String) async throws -> TestResponse {
        try await app.request(
            .post,
            "/v1/audio/speech",
            token: token,
            json: #"{"model": "tts-1", "input": "\#(sentence)", "voice": "anna_en", "response_format": "wav"}"#
        )
    }

    @Test(
        "a sentence spoken by /v1/audio/speech is heard back exactly by /v1/audio/transcriptions when `prompt` lists it; a one-line prompt is a hint, not the answer"
    )
    func roundTrip() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let spoken = try await Self.speakSentence(app, token: token)
            #expect(spoken.status == .ok, "\(String(buffer: spoken.body))")
            #expect(spoken.headers[.contentType] == "audio/wav")
            let wav = Data(buffer: spoken.body)
            #expect(wav.prefix(4) == Data("RIFF".utf8))

            let files = [MultipartForm.File(field: "file", filename: "speech.wav", contentType: "audio/wav", data: wav)]
            let listed = "good morning\nsee you tomorrow\n\(Self.sentence)"
            let heard = try await app.postForm(
                "/v1/audio/transcriptions",
                token: token,
                fields: [("model", "whisper-1"), ("prompt", listed)],
                files: files
            )
            #expect(heard.status == .ok, "\(String(buffer: heard.body))")
            #expect(heard.json["text"] as? String == Self.sentence)

            // A Whisper-style context prompt does not become the only thing that can be heard.
            let context = "The following is a call to a dental clinic."
            let hinted = try await app.postForm("/v1/audio/transcriptions", token: token, fields: [("prompt", context)], files: files)
            let free = try #require(hinted.json["text"] as? String, "\(String(buffer: hinted.body))")
            #expect(!free.isEmpty && free != context, "heard \(free)")

            let text = try await app.postForm(
                "/v1/audio/transcriptions",
                token: token,
                fields: [("model", "whisper-1"), ("prompt", listed), ("response_format", "text")],
                files: files
            )
            #expect(text.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(String(buffer: text.body) == Self.sentence)

            let verbose = try await app.postForm(
                "/v1/audio/transcriptions",
                token: token,
                fields: [("model", "whisper-1"), ("prompt", "good morning\n\(Self.sentence)"), ("response_format", "verbose_json")],
                files: files
            )
            #expect(verbose.json["task"] as? String == "transcribe")
            #expect(verbose.json["text"] as? String == Self.sentence, "one of the phrases, one per line")
            #expect(verbose.json["language"] as? String == "en")
            #expect((verbose.json["duration"] as? Double ?? 0) > 1)
            #expect(verbose.json["segments"] is [Any])

            let srt = try await app.postForm("/v1/audio/transcriptions", token: token, fields: [("response_format", "srt")], files: files)
            #expect(srt.status == .badRequest)
            #expect(srt.openAIError["param"] as? String == "response_format")
            let anonymous = try await app.postForm("/v1/audio/transcriptions", token: nil, fields: [], files: files)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test("/tts answers a WAV and caches it under the data dir: the second identical request is served from the file")
    func ttsCache() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let body = #"{"text": "Добрый день, чем могу помочь?", "voice_id": "anna_ru"}"#
            let first = try await app.request(.post, "/tts", token: token, json: body)
            #expect(first.status == .ok, "\(String(buffer: first.body))")
            #expect(first.headers[.contentType] == "audio/wav")
            let wav = Data(buffer: first.body)
            #expect(wav.prefix(4) == Data("RIFF".utf8) && wav.dropFirst(8).prefix(4) == Data("WAVE".utf8))
            #expect(try WAVAudio.parse(wav).duration > 0.5)

            let folder = URL(fileURLWithPath: app.runtime.config.dataDir).appendingPathComponent("speech-cache")
            let cached = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "wav" }
            #expect(cached.count == 1, "one file under \(folder.path): \(cached)")
            let file = try #require(cached.first)
            #expect(try Data(contentsOf: file) == wav)

            // A marker in place of the file: the next identical request can only have read it from there.
            let marker = OpenAIWire.wav(seconds: 0.3, hertz: 300)
            try marker.write(to: file)
            let second = try await app.request(.post, "/tts", token: token, json: body)
            #expect(second.status == .ok)
            #expect(Data(buffer: second.body) == marker, "served from the cache, not synthesized again")

            let unknown = try await app.request(.post, "/tts", token: token, json: #"{"text": "Привет", "voice_id": "olga"}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.detail.contains("voice_id") && unknown.detail.contains("anna_ru"))
            let empty = try await app.request(.post, "/tts", token: token, json: #"{"text": "  "}"#)
            #expect(empty.status == .unprocessableContent)
            #expect(try await app.request(.post, "/tts", json: body).status == .unauthorized)
        }
    }

    @Test("a TTS preset's name works as a voice: its voice, speed and pitch; a request's speed wins; another account's preset is unknown")
    func presetsAsVoices() async throws {
        try await TestApp.run { app in
            let alice = try await app.makeUser("alice")
            let bob = try await app.makeUser("bob")
            let preset = #"{"name": "slow-anna", "voice": "anna_en", "speed": 0.5, "pitch": 20}"#
            #expect(try await app.request(.post, "/admin/tts/presets", token: alice.token, json: preset).status == .created)
            func seconds(_ body: String, _ token: String) async throws -> Double {
                let answer = try await app.request(.post, "/v1/audio/speech", token: token, json: body)
                try #require(answer.status == .ok, "\(answer.detail)")
                return try WAVAudio.parse(Data(buffer: answer.body)).duration
            }
            let text = "Good afternoon, how can I help you today?"
            let plain = try await seconds(#"{"input": "\#(text)", "voice": "anna_en"}"#, alice.token)
            let slow = try await seconds(#"{"input": "\#(text)", "voice": "slow-anna"}"#, alice.token)
            #expect(slow > plain * 1.5, "the preset's half speed: \(slow) s against \(plain) s")
            let quick = try await seconds(#"{"input": "\#(text)", "voice": "slow-anna", "speed": 1.0}"#, alice.token)
            #expect(abs(quick - plain) < plain * 0.2, "the request's speed wins: \(quick) s against \(plain) s")
            let viaSeed = try await app.request(.post, "/tts", token: alice.token, json: #"{"text": "\#(text)", "voice_id": "slow-anna"}"#)
            #expect(viaSeed.status == .ok)
            let key = app.runtime.secretary.speech.cacheKey(
                text: text,
                voice: VoiceProfile(
                    id: "anna_en",
                    name: "",
                    language: "en",
                    espeakVoice: try #require(VoiceCatalog.find("anna_en")).espeakVoice,
                    pitch: 20
                ),
                speed: 0.5
            )
            #expect(await app.runtime.secretary.speech.cache.get(key) != nil, "spoken with the preset's pitch and speed")
            let theirs = try await app.request(.post, "/v1/audio/speech", token: bob.token, json: #"{"input": "hi", "voice": "slow-anna"}"#)
            #expect(theirs.status == .unprocessableContent, "another account's preset: \(theirs.detail)")
        }
    }

    @Test(
        "pcm is 24 kHz s16le with no header; mp3, aac and flac through ffmpeg, else a 400 naming response_format in OpenAI's shape; limits name their field"
    )
    func formatsAndBounds() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            func speech(_ fields: String) async throws -> TestResponse {
                try await app.request(.post, "/v1/audio/speech", token: token, json: #"{"model": "tts-1", "voice": "nova", \#(fields)}"#)
            }
            let wav = try await speech(#""input": "Testing one two three""#)
            #expect(wav.status == .ok, "no response_format: WAV")
            #expect(wav.headers[.contentType] == "audio/wav")
            let pcm = try await speech(#""input": "Testing one two three", "response_format": "pcm""#)
            #expect(pcm.status == .ok)
            #expect(pcm.headers[.contentType] == "audio/pcm")
            let audio = try WAVAudio.parse(Data(buffer: wav.body))
            #expect(pcm.body.readableBytes == 2 * audio.resampled(to: 24_000).samples.count)
            #expect(pcm.body.readableBytes != wav.body.readableBytes - 44, "resampled from espeak-ng's 22050 Hz")

            // mp3, aac and flac through ffmpeg when it is installed; without it, a 400 naming the field.
            if AudioDecoder().isAvailable {
                for (format, type, magic) in [
                    ("mp3", "audio/mpeg", [[0x49, 0x44, 0x33], [0xFF]]), ("flac", "audio/flac", [Array("fLaC".utf8)]), ("aac", "audio/aac", [[0xFF]]),
                ] as [(String, String, [[UInt8]])] {
                    let encoded = try await speech(#""input": "Testing", "response_format": "\#(format)""#)
                    #expect(encoded.status == .ok, "\(format): \(String(buffer: encoded.body).prefix(300))")
                    #expect(encoded.headers[.contentType] == type)
                    let bytes = Data(buffer: encoded.body)
                    #expect(magic.contains { bytes.starts(with: $0) } && bytes.count > 500, "\(format) starts \(Array(bytes.prefix(4)))")
                }
            }
            do {
                _ = try SpeechRoutes.audioFormat("mp3", ffmpeg: AudioDecoder(ffmpeg: "/nonexistent/ffmpeg"))
                Issue.record("mp3 without an encoder was accepted")
            } catch let error as AppError {
                #expect(error.status == .badRequest && error.field == "response_format" && error.detail.contains("ffmpeg"), "\(error)")
            }
            let mp3 = try await speech(#""input": "Testing", "response_format": "ogg""#)
            #expect(mp3.status == .unprocessableContent)
            #expect(mp3.openAIError["param"] as? String == "response_format")
            #expect(mp3.openAIError["type"] as? String == "invalid_request_error")
            if OpusCodec().isAvailable {
                let opus = try await speech(#""input": "Testing", "response_format": "opus""#)
                #expect(opus.status == .ok)
                #expect(opus.headers[.contentType] == "audio/ogg")
                #expect(Data(buffer: opus.body).starts(with: Array("OggS".utf8)), "OGG/Opus through opus-tools")
            }
            #expect((mp3.openAIError["message"] as? String)?.contains("wav or pcm") == true)

            let voice = try await app.request(.post, "/v1/audio/speech", token: token, json: #"{"input": "Hi", "voice": "nobody"}"#)
            #expect(voice.status == .unprocessableContent)
            #expect(voice.openAIError["param"] as? String == "voice")
            #expect((voice.openAIError["message"] as? String)?.contains("/v1/voices") == true)
            let long = try await speech(#""input": "\#(String(repeating: "a", count: 4097))""#)
            #expect(long.status == .unprocessableContent)
            #expect(long.openAIError["param"] as? String == "input")
            let fast = try await speech(#""input": "Hi", "speed": 9"#)
            #expect(fast.status == .unprocessableContent)
            #expect(fast.openAIError["param"] as? String == "speed")
        }
    }

    @Test("a damaged MP3 is a 400 saying why (or, without ffmpeg, what to install); a JSON body is not a form")
    func nonWAVUpload() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let mp3 = Data("ID3\u{3}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}".utf8) + Data(repeating: 0x55, count: 2000)
            let refused = try await app.postForm(
                "/v1/audio/transcriptions",
                token: token,
                fields: [("model", "whisper-1")],
                files: [.init(field: "file", filename: "voice.mp3", contentType: "audio/mpeg", data: mp3)]
            )
            #expect(refused.status == .badRequest)
            let message = refused.openAIError["message"] as? String ?? ""
            // With ffmpeg it is tried and found damaged; without, the answer says what to install.
            let expected = AudioDecoder().isAvailable ? "could not be decoded" : "not decoded here without ffmpeg"
            #expect(message.contains(expected), "\(message)")
            #expect(refused.openAIError["param"] as? String == "file")

            let seed = try await app.postForm(
                "/stt",
                token: token,
                fields: [],
                files: [.init(field: "file", filename: "voice.mp3", contentType: "audio/mpeg", data: mp3)]
            )
            #expect(seed.status == .badRequest)
            #expect(seed.detail.contains(expected))
            let missing = try await app.postForm("/stt", token: token, fields: [("language", "en")], files: [])
            #expect(missing.status == .badRequest)
            #expect(missing.detail.contains("file"))
            let json = try await app.request(.post, "/stt", token: token, json: #"{"file": "x"}"#)
            #expect(json.status == .badRequest)
            #expect(json.detail.contains("multipart/form-data"))
        }
    }

    /// `wav` re-encoded by the ffmpeg CLI, as a browser or phone would have recorded it.
    static func encoded(_ wav: Data, _ arguments: [String]) throws -> Data {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-audio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("in.wav")
        let output = folder.appendingPathComponent("out.bin")
        try wav.write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: AudioDecoder().ffmpeg)
        process.arguments = ["-hide_banner", "-loglevel", "error", "-y", "-i", input.path] + arguments + [output.path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "ffmpeg \(arguments) failed")
        return try Data(contentsOf: output)
    }

    @Test(
        "MP3 and WebM/Opus uploads (what browsers and Open WebUI record) are decoded and heard, and told apart from other phrases",
        .enabled(if: AudioDecoder().isAvailable, "needs ffmpeg")
    )
    func compressedUploads() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let wav = Data(buffer: try await Self.speakSentence(app, token: token).body)
            let phrases = "good morning\n\(Self.sentence)\nplease send the invoice today"
            for (name, arguments, type) in [
                ("voice.mp3", ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"], "audio/mpeg"),
                ("voice.webm", ["-c:a", "libopus", "-b:a", "32k", "-f", "webm"], "audio/webm"),
            ] {
                let data = try Self.encoded(wav, arguments)
                #expect(data.prefix(4) != Data("RIFF".utf8))
                let heard = try await app.postForm(
                    "/v1/audio/transcriptions",
                    token: token,
                    fields: [("model", "whisper-1"), ("prompt", phrases)],
                    files: [.init(field: "file", filename: name, contentType: type, data: data)]
                )
                #expect(heard.status == .ok, "\(name): \(String(buffer: heard.body))")
                #expect(heard.json["text"] as? String == Self.sentence, "\(name): the spoken phrase of three")
            }
        }
    }

    @Test("/process_call hears the caller, the persona answers in the call's conversation, and the answer's audio is served")
    func processCall() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let alice = try await app.makeUser("alice")
            let spoken = try await app.request(
                .post,
                "/v1/audio/speech",
                token: alice.token,
                json: #"{"input": "\#(Self.sentence)", "voice": "anna_en"}"#
            )
            try #require(spoken.status == .ok)
            let call = try await app.postForm(
                "/process_call",
                token: alice.token,
                fields: [("persona", "anna"), ("phrases", #"["good morning", "\#(Self.sentence)"]"#)],
                files: [.init(field: "audio", filename: "call.wav", contentType: "audio/wav", data: Data(buffer: spoken.body))]
            )
            #expect(call.status == .ok, "\(String(buffer: call.body))")
            #expect(call.json["transcription"] as? String == Self.sentence)
            #expect(call.json["response"] as? String == "Echo: \(Self.sentence)")
            let url = try #require(call.json["audio_url"] as? String)
            #expect(url.hasPrefix("/audio/") && url.hasSuffix(".wav"))

            let audio = try await app.request(.get, url, token: alice.token)
            #expect(audio.status == .ok)
            #expect(audio.headers[.contentType] == "audio/wav")
            #expect(try WAVAudio.parse(Data(buffer: audio.body)).duration > 1)
            #expect(try await app.request(.get, url).status == .unauthorized)
            #expect(try await app.request(.get, "/audio/../../etc/passwd", token: alice.token).status == .notFound)
            #expect(try await app.request(.get, "/audio/not-a-key.wav", token: alice.token).status == .notFound)
            let absent = "/audio/" + String(repeating: "ab", count: 32) + ".wav"
            #expect(try await app.request(.get, absent, token: alice.token).status == .notFound)

            // The turn is part of the caller's running call conversation: the next turn sends it upstream.
            let again = try await app.postForm(
                "/process_call",
                token: alice.token,
                fields: [("persona", "anna"), ("phrases", Self.sentence)],
                files: [.init(field: "audio", filename: "call.wav", contentType: "audio/wav", data: Data(buffer: spoken.body))]
            )
            #expect(again.status == .ok)
            #expect(again.json["session_id"] as? String == call.json["session_id"] as? String)
            let sent = try #require(upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])
            #expect(sent.map { $0["role"] as? String ?? "" } == ["system", "user", "assistant", "user"])

            let missing = try await app.postForm("/process_call", token: alice.token, fields: [("persona", "anna")], files: [])
            #expect(missing.status == .badRequest)
            #expect(missing.detail.contains("audio"))
        }
    }
}

/// What needs no speech binaries: the voice list, the multipart reader, the remote engines against a fake server.
@Suite("Speech without engines", .timeLimit(.minutes(3)))
struct SpeechPartsTests {
    @Test("/v1/voices lists the voices in the seed's shape, and needs credentials")
    func voices() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let list = try await app.request(.get, "/v1/voices", token: token)
            #expect(list.status == .ok)
            let voices = try #require(list.json["voices"] as? [[String: Any]])
            #expect(voices.first?["id"] as? String == "anna_ru")
            #expect(voices.first?["name"] as? String == "Анна (Russian)")
            #expect(voices.allSatisfy { $0.keys.sorted() == ["id", "name"] })
            #expect(voices.contains { $0["id"] as? String == "alloy" })
            #expect(try await app.request(.get, "/v1/voices").status == .unauthorized)
        }
    }

    @Test("multipart bodies: quoted boundary and filenames, preamble and epilogue, empty fields; malformed ones are 400s saying why")
    func multipartParser() throws {
        let body = [
            "preamble", "--b\"x", #"Content-Disposition: form-data; name="model""#, "", "whisper-1",
            "--b\"x  ", #"content-disposition: form-data; name=file; filename="a \"q\" C:\dir\x.wav""#, "Content-Type: audio/wav", "",
            "RIFF\r\nbytes", "--b\"x", #"Content-Disposition: form-data; name="empty""#, "", "",
            "--b\"x", #"Content-Disposition: form-data; name="u"; filename*=UTF-8''r%C3%A9.wav; filename="r.wav""#, "", "x",
            "--b\"x--", "epilogue",
        ].joined(separator: "\r\n")
        let parts = try MultipartParser.parse(Data(body.utf8), contentType: #"Multipart/Form-Data; charset=utf-8; boundary="b\"x""#)
        #expect(parts.map(\.name) == ["model", "file", "empty", "u"])
        #expect(parts.text("model") == "whisper-1")
        #expect(parts[1].filename == #"a "q" C:\dir\x.wav"#)
        #expect(parts[1].contentType == "audio/wav")
        #expect(parts[1].data == Data("RIFF\r\nbytes".utf8))
        #expect(parts.text("empty") == "")
        #expect(parts[3].filename == "ré.wav")

        // What MultipartForm writes, MultipartParser reads.
        let form = MultipartForm(
            fields: [("a", "1")],
            files: [.init(field: "f", filename: "x.bin", contentType: "application/octet-stream", data: Data([0, 13, 10, 45, 45]))]
        )
        let read = try MultipartParser.parse(ByteBuffer(data: form.body), contentType: form.contentType)
        #expect(read.map(\.name) == ["a", "f"] && read[1].data == Data([0, 13, 10, 45, 45]) && read[1].filename == "x.bin")

        func problem(_ body: String, _ contentType: String? = "multipart/form-data; boundary=B") -> String {
            do {
                _ = try MultipartParser.parse(Data(body.utf8), contentType: contentType)
                return "parsed"
            } catch let error as AppError {
                #expect(error.status == .badRequest)
                return error.detail
            } catch {
                return "\(error)"
            }
        }
        let part = "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n"
        #expect(problem(part).contains("closing boundary"))
        #expect(problem(part + "--B--", "application/json").contains("not multipart/form-data"))
        #expect(problem(part + "--B--", "multipart/form-data").contains("no boundary"))
        #expect(problem(part + "--B--", nil).contains("no Content-Type"))
        #expect(problem(String(repeating: part, count: 33) + "--B--").contains("more than 32 parts"))
        #expect(problem("--B\r\nX-Long: \(String(repeating: "a", count: 9000))\r\n\r\nv\r\n--B--").contains("over 8192 bytes"))
        #expect(problem("--B\r\nContent-Disposition: form-data\r\n\r\nv\r\n--B--").contains("no name"))
        #expect(problem("--B\nContent-Disposition: form-data; name=a\n\nv\n--B--").contains("CRLF"))
        #expect(problem("nothing here").contains("no boundary line"))
        #expect(problem(part + "--B--") == "parsed")
        #expect(problem("nothing here").contains("send multipart/form-data with a file field"))
    }

    @Test("`prompt` and `phrases` become recognizer phrases: one per line, |, ; or a JSON array; a sentence stays whole")
    func phrases() {
        #expect(SpeechRoutes.phrases("hello world please call me back") == ["hello world please call me back"])
        #expect(SpeechRoutes.phrases("yes\nno | maybe; later\n\n") == ["yes", "no", "maybe", "later"])
        #expect(SpeechRoutes.phrases(#"["call me", " later "]"#) == ["call me", "later"])
        #expect(SpeechRoutes.phrases(nil).isEmpty)
    }

    @Test(
        "remote engines: WAV asked of the speech server, the clip uploaded as multipart with the key; a refusal is a 502 naming the server, never the key"
    )
    func remoteEngines() async throws {
        let key = "sk-speech-key-00000000001"
        let fake = try await FakeOpenAI.start(models: [], apiKey: key)
        defer { Task { await fake.stop() } }
        let transport = LLMTransport(
            policy: AddressPolicy(allowPrivate: true),
            send: { try await HTTPClient.shared.execute($0, timeout: $1) },
            describe: NetworkErrors.describe
        )
        let folder = URL(fileURLWithPath: TestDatabase.temporaryDirectory()).appendingPathComponent("speech-cache")
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let base = try #require(URL(string: fake.baseURL))
        let service = SpeechService.make(ttsURL: base, sttURL: base, key: Secret(key), transport: transport, cacheDirectory: folder)
        let status = service.status()
        #expect(status.tts == "remote" && status.stt == "remote")

        let spoken = try await service.synthesize(text: "Good morning", voice: try #require(VoiceCatalog.find("alloy")), speed: 1.5)
        #expect(try WAVAudio.parse(spoken.wav).sampleRate == 24_000)
        let asked = try #require(fake.calls("audio/speech").last)
        #expect(asked.authorization == "Bearer \(key)")
        #expect(asked.json["model"] as? String == "tts-1")
        #expect(asked.json["voice"] as? String == "alloy")
        #expect(asked.json["response_format"] as? String == "wav")
        #expect(asked.json["speed"] as? Double == 1.5)
        #expect(asked.json["input"] as? String == "Good morning")
        _ = try await service.synthesize(text: "Good morning", voice: try #require(VoiceCatalog.find("alloy")), speed: 1.5)
        #expect(fake.calls("audio/speech").count == 1, "the second time from the cache")

        let heard = try await service.transcribe(data: spoken.wav, language: "ru", phrases: ["доброе утро", "добрый вечер"])
        #expect(heard.text == "Hello from the fake transcriber.")
        let upload = try #require(fake.calls("audio/transcriptions").last)
        #expect(upload.form["model"] == "whisper-1")
        #expect(upload.form["language"] == "ru")
        #expect(upload.form["response_format"] == "json")
        #expect(upload.form["prompt"] == "доброе утро, добрый вечер")
        #expect(try WAVAudio.parse(try #require(upload.files["file"])).sampleRate == 16_000, "sent at Whisper's rate")

        fake.behave(.status(401))
        do {
            _ = try await service.synthesize(text: "Good evening", voice: VoiceCatalog.standard, speed: nil)
            Issue.record("a 401 from the server must fail the synthesis")
        } catch let error as AppError {
            #expect(error.status == .badGateway)
            #expect(error.detail.contains("127.0.0.1") && error.detail.contains("401") && error.detail.contains("ATELIER_SPEECH_API_KEY"))
            #expect(!error.detail.contains(key))
        }
    }
}

extension TestApp {
    /// A multipart/form-data POST, as OpenAI's SDKs and browsers upload files.
    func postForm(_ uri: String, token: String?, fields: [(String, String)], files: [MultipartForm.File]) async throws -> TestResponse {
        let form = MultipartForm(fields: fields, files: files)
        var headers: HTTPFields = [.contentType: form.contentType]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(data: form.body))
    }
}

extension TestResponse {
    /// The `error` object of OpenAI's error shape (empty when absent).
    var openAIError: [String: Any] { json["error"] as? [String: Any] ?? [:] }
}
